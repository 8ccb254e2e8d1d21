/**
 * The host's AutoMTLS certificate when the host did not start its plugin: a
 * folder holding `tls.crt` and `tls.key` (in a pod, the operator mounts the
 * Secret `podplug-<name>-mtls` at `$PODPLUG_MTLS_ROOT/<name>`). The host SDK
 * and the agent both read it here, so they agree on what a usable folder is.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TLS_CERT_FILE, TLS_KEY_FILE } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import type { CertificatePair } from "./mtls.ts";

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PodplugError(
      "HANDSHAKE_CERT",
      `cannot read ${path}: ${(err as Error).message}.`,
      { path },
      { cause: err },
    );
  }
}

/**
 * The certificate in `dir`, or undefined when neither file is there (a
 * missing folder is an empty one). Throws HANDSHAKE_CERT when a file is
 * unreadable or only one of the two is present.
 */
export async function readHostCertificate(dir: string): Promise<CertificatePair | undefined> {
  const [certPem, keyPem] = await Promise.all([
    readIfPresent(join(dir, TLS_CERT_FILE)),
    readIfPresent(join(dir, TLS_KEY_FILE)),
  ]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const [has, lacks] = certPem === undefined ? [TLS_KEY_FILE, TLS_CERT_FILE] : [TLS_CERT_FILE, TLS_KEY_FILE];
    throw new PodplugError(
      "HANDSHAKE_CERT",
      `${dir} holds ${has} but not ${lacks}: a host certificate needs both (a kubernetes.io/tls Secret has both keys).`,
      { dir },
    );
  }
  return { certPem, keyPem };
}
