/**
 * The webhook's certificates: a self-signed CA (its PEM is the webhook
 * configuration's caBundle) and a serving certificate it signs for the
 * webhook Service's DNS names (and any IPs, for a webhook reached by URL).
 * ECDSA P-256 with SHA-256, which every apiserver's Go TLS accepts.
 */
import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { toPem } from "../../src/protocol/mtls.ts";
import { usePkijsEngine } from "../../src/protocol/self-signed.ts";
import { OperatorError } from "../errors.ts";

/** A certificate and its PKCS#8 key, PEM. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

const ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const HASH = "SHA-256";

function cn(value: string): pkijs.AttributeTypeAndValue[] {
  return [new pkijs.AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.Utf8String({ value }) })];
}

function ext(extnID: string, critical: boolean, value: ArrayBuffer): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value });
}

async function build(
  subject: string,
  validityMs: number,
  keys: CryptoKeyPair,
  signer: { key: CryptoKey; name: string },
  extensions: pkijs.Extension[],
): Promise<string> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x3f) | 0x40; // positive and minimal (DER)
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  cert.subject.typesAndValues = cn(subject);
  cert.issuer.typesAndValues = cn(signer.name);
  const now = Math.floor(Date.now() / 1000) * 1000;
  // A minute back: the apiserver's clock may lag the operator's.
  cert.notBefore.value = new Date(now - 60_000);
  cert.notAfter.value = new Date(now + validityMs);
  cert.extensions = extensions;
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  await cert.sign(signer.key, HASH);
  return toPem("CERTIFICATE", cert.toSchema(true).toBER(false));
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return toPem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
}

/** A self-signed CA valid for `validityMs`. */
export async function generateCa(name: string, validityMs: number): Promise<PemPair> {
  usePkijsEngine();
  const keys = await newKeys();
  const basic = new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 });
  const certPem = await build(name, validityMs, keys, { key: keys.privateKey, name }, [
    ext("2.5.29.19", true, basic.toSchema().toBER(false)),
    // keyCertSign | cRLSign
    ext(
      "2.5.29.15",
      true,
      new asn1js.BitString({ valueHex: new Uint8Array([0b00000110]), unusedBits: 1 }).toBER(false),
    ),
  ]);
  return { certPem, keyPem: await keyPem(keys) };
}

/** A serving certificate for `dnsNames` and `ips`, signed by `ca`, valid for `validityMs`. */
export async function generateServing(
  ca: PemPair,
  dnsNames: readonly string[],
  ips: readonly string[],
  validityMs: number,
): Promise<PemPair> {
  usePkijsEngine();
  let caKey: CryptoKey;
  try {
    const der = Buffer.from(ca.keyPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    caKey = (await webcrypto.subtle.importKey("pkcs8", der, ALG, false, ["sign"])) as unknown as CryptoKey;
  } catch (err) {
    throw new OperatorError(
      "WEBHOOK_TLS",
      `the webhook CA key is not a PKCS#8 P-256 key (${(err as Error).message}): delete the Secret to have a new CA made`,
      {},
      { cause: err },
    );
  }
  const caName = new X509Certificate(ca.certPem).subject.replace(/^CN=/, "");
  const keys = await newKeys();
  const names = [
    ...dnsNames.map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...ips.map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip) }) })),
  ];
  const certPem = await build(
    dnsNames[0] ?? ips[0] ?? "podplug-webhook",
    validityMs,
    keys,
    { key: caKey, name: caName },
    [
      ext("2.5.29.19", true, new pkijs.BasicConstraints({ cA: false }).toSchema().toBER(false)),
      // digitalSignature
      ext(
        "2.5.29.15",
        true,
        new asn1js.BitString({ valueHex: new Uint8Array([0b10000000]), unusedBits: 7 }).toBER(false),
      ),
      ext("2.5.29.37", false, new pkijs.ExtKeyUsage({ keyPurposes: ["1.3.6.1.5.5.7.3.1"] }).toSchema().toBER(false)),
      ext("2.5.29.17", false, new pkijs.GeneralNames({ names }).toSchema().toBER(false)),
    ],
  );
  return { certPem, keyPem: await keyPem(keys) };
}

function ipBytes(ip: string): ArrayBuffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) return new Uint8Array(v4.slice(1).map(Number)).buffer;
  if (ip === "::1") {
    const b = new Uint8Array(16);
    b[15] = 1;
    return b.buffer;
  }
  throw new OperatorError(
    "WEBHOOK_TLS",
    `${JSON.stringify(ip)} is not an IPv4 address (or ::1) for the webhook certificate`,
  );
}

/** The first certificate of a PEM bundle, parsed; WEBHOOK_TLS if there is none. */
export function firstCert(bundle: string, what: string): X509Certificate {
  try {
    return new X509Certificate(bundle);
  } catch (err) {
    throw new OperatorError(
      "WEBHOOK_TLS",
      `${what} is not a PEM certificate: ${(err as Error).message}`,
      {},
      {
        cause: err,
      },
    );
  }
}

/** Milliseconds until `certPem` expires (negative once it has). */
export function msToExpiry(certPem: string, now = Date.now()): number {
  return Date.parse(firstCert(certPem, "the certificate").validTo) - now;
}

/** The DNS and IP names of a certificate's subjectAltName, sorted, as `DNS:x`, `IP:y`. */
export function altNames(certPem: string): string[] {
  const s = firstCert(certPem, "the certificate").subjectAltName ?? "";
  return s
    .split(",")
    .map((x) => x.trim().replace(/^IP Address:/, "IP:"))
    .filter(Boolean)
    .sort();
}
