/**
 * The throwaway certificate of go-plugin's AutoMTLS: self-signed ECDSA P-521,
 * CN and SAN `localhost`, client and server auth, IsCA, ~30 years. Built with
 * pkijs, which the SDKs import only when AutoMTLS is on (`await import`), so
 * a plugin without it starts without loading it.
 */
import { randomBytes, webcrypto } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { type CertificatePair, toPem } from "./mtls.ts";

const ALG = { name: "ECDSA", namedCurve: "P-521" } as const;
const HASH = "SHA-512";
// ~30 years, as go-plugin's 262980 hours.
const LIFETIME_MS = 262_980 * 3600 * 1000;

let engineSet = false;
/** Points pkijs at Node's WebCrypto, once per process (the webhook's certificates use it too). */
export function usePkijsEngine(): void {
  if (engineSet) return;
  pkijs.setEngine(
    "node-webcrypto",
    new pkijs.CryptoEngine({ name: "node-webcrypto", crypto: webcrypto as unknown as Crypto }),
  );
  engineSet = true;
}

/** Generates a certificate pair with go-plugin's AutoMTLS profile. */
export async function generateCertificate(): Promise<CertificatePair> {
  usePkijsEngine();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x3f) | 0x40; // positive and minimal: DER forbids a padded INTEGER
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  const name = [
    new pkijs.AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.PrintableString({ value: "localhost" }) }),
  ];
  cert.subject.typesAndValues = name;
  cert.issuer.typesAndValues = name;
  const now = Math.floor(Date.now() / 1000) * 1000; // DER times carry no fractional seconds
  cert.notBefore.value = new Date(now - 30_000);
  cert.notAfter = new pkijs.Time({ type: 1, value: new Date(now + LIFETIME_MS) }); // GeneralizedTime: past 2049
  const basic = new pkijs.BasicConstraints({ cA: true });
  // digitalSignature | keyEncipherment | keyAgreement | keyCertSign
  const keyUsageBits = new Uint8Array([0b10101100, 0]);
  cert.extensions = [
    new pkijs.Extension({
      extnID: "2.5.29.19",
      critical: true,
      extnValue: basic.toSchema().toBER(false),
      parsedValue: basic,
    }),
    new pkijs.Extension({
      extnID: "2.5.29.15",
      critical: true,
      extnValue: new asn1js.BitString({ valueHex: keyUsageBits, unusedBits: 1 }).toBER(false),
    }),
    new pkijs.Extension({
      extnID: "2.5.29.37",
      extnValue: new pkijs.ExtKeyUsage({ keyPurposes: ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.1"] })
        .toSchema()
        .toBER(false),
    }),
    new pkijs.Extension({
      extnID: "2.5.29.17",
      extnValue: new pkijs.GeneralNames({ names: [new pkijs.GeneralName({ type: 2, value: "localhost" })] })
        .toSchema()
        .toBER(false),
    }),
  ];
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  await cert.sign(keys.privateKey, HASH);
  const der = Buffer.from(cert.toSchema(true).toBER(false));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: toPem("CERTIFICATE", der), keyPem: toPem("PRIVATE KEY", pkcs8) };
}
