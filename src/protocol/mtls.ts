/**
 * go-plugin's AutoMTLS: each side makes a throwaway self-signed ECDSA P-521
 * certificate (CN and SAN `localhost`, client+server auth, IsCA). The host
 * passes its PEM in PLUGIN_CLIENT_CERT; the plugin answers with its DER leaf,
 * base64 without padding, as the handshake's sixth field. Making a
 * certificate (pkijs, some 50 modules) is self-signed.ts, loaded only when
 * AutoMTLS is on.
 */
import { X509Certificate } from "node:crypto";
import { PodplugError } from "../errors.ts";

/** A certificate and its private key, both PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** DER as PEM with `label`, 64 characters a line. */
export function toPem(label: string, der: ArrayBuffer | Buffer): string {
  const b64 = Buffer.from(der as ArrayBuffer)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The handshake's sixth field for a certificate: DER, base64 without padding. */
export function certToHandshakeField(certPem: string): string {
  return new X509Certificate(certPem).raw.toString("base64").replace(/=+$/, "");
}

/** Turns a handshake's certificate field back into PEM, or throws HANDSHAKE_CERT. */
export function handshakeFieldToCert(field: string, source = "plugin"): string {
  try {
    const x = new X509Certificate(Buffer.from(field, "base64"));
    return x.toString();
  } catch (err) {
    throw new PodplugError(
      "HANDSHAKE_CERT",
      `error parsing server cert from ${source}: ${(err as Error).message}. The plugin's AutoMTLS certificate is not valid DER.`,
      {},
      { cause: err },
    );
  }
}

/** Validates a PEM certificate (from PLUGIN_CLIENT_CERT), or throws ENV_INVALID. */
export function checkCertPem(pem: string, where: string): void {
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new PodplugError(
      "ENV_INVALID",
      `${where} is not a PEM certificate: ${(err as Error).message}.`,
      {},
      { cause: err },
    );
  }
}
