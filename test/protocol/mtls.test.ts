import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certToHandshakeField, checkCertPem, handshakeFieldToCert } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";

describe("AutoMTLS certificates", () => {
  it("match go-plugin's profile: P-521, CN/SAN localhost, CA, client+server auth", async () => {
    const { certPem, keyPem } = await generateCertificate();
    const x = new X509Certificate(certPem);
    assert.equal(x.subject, "CN=localhost");
    assert.equal(x.subjectAltName, "DNS:localhost");
    assert.equal(x.ca, true);
    assert.deepEqual(x.keyUsage?.sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, "secp521r1");
    assert.ok(x.verify(x.publicKey), "self-signed");
    assert.ok(new Date(x.validTo).getUTCFullYear() >= new Date().getUTCFullYear() + 29);
    assert.match(keyPem, /BEGIN PRIVATE KEY/);
  });

  it("puts the DER leaf in the handshake as unpadded base64 and reads it back", async () => {
    const { certPem } = await generateCertificate();
    const field = certToHandshakeField(certPem);
    assert.doesNotMatch(field, /[=\n|]/);
    assert.equal(handshakeFieldToCert(field), new X509Certificate(certPem).toString());
  });

  it("refuses a certificate field that is not DER, and a PLUGIN_CLIENT_CERT that is not PEM", () => {
    assert.throws(() => handshakeFieldToCert("A".repeat(80)), { code: "HANDSHAKE_CERT" });
    assert.throws(
      () => checkCertPem("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "PLUGIN_CLIENT_CERT"),
      { code: "ENV_INVALID" },
    );
  });
});
