/**
 * The agent's side of AutoMTLS: when the operator mounted plugin <name>'s host
 * certificate (PODPLUG_MTLS_ROOT/<name>/tls.crt, tls.key), the agent checks
 * health as the host would — presenting that certificate and trusting exactly
 * the one the plugin announced in its handshake file.
 */
import { join } from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { HOST_ENV, TLS_CERT_FILE, TLS_KEY_FILE } from "../constants.ts";
import { readHostCertificate } from "../protocol/host-certificate.ts";
import type { CertificatePair } from "../protocol/mtls.ts";
import { handshakeFieldToCert } from "../protocol/mtls.ts";
import { mtlsTransport } from "../protocol/transport.ts";
import { AgentError } from "./errors.ts";
import type { PluginEndpoint } from "./socket.ts";

/**
 * Channel credentials for plugin `name` at `ep`: undefined for plaintext (no
 * host certificate mounted and none announced); throws AgentError when only
 * one side has a certificate.
 */
export async function agentCredentials(
  mtlsRoot: string | undefined,
  name: string,
  ep: PluginEndpoint,
): Promise<ChannelCredentials | undefined> {
  const dir = mtlsRoot ? join(mtlsRoot, name) : undefined;
  let own: CertificatePair | undefined;
  try {
    own = dir ? await readHostCertificate(dir) : undefined;
  } catch (err) {
    throw new AgentError("AGENT_MTLS", (err as Error).message, {}, { cause: err });
  }
  if (!own && !ep.serverCert) return undefined;
  if (!ep.serverCert) {
    throw new AgentError(
      "AGENT_MTLS",
      `plugin ${name} has a host certificate in ${dir} but announced no certificate of its own in a handshake file: an unmodified Go plugin prints it only on stdout, so AutoMTLS needs a plugin in podplug sidecar mode`,
    );
  }
  if (!own) {
    throw new AgentError(
      "AGENT_MTLS",
      `plugin ${name} serves AutoMTLS but ${dir ?? HOST_ENV.mtlsRoot}/${TLS_CERT_FILE} and ${TLS_KEY_FILE} are not mounted: is spec.autoMTLS set and the Secret podplug-${name}-mtls present?`,
    );
  }
  let peer: string;
  try {
    peer = handshakeFieldToCert(ep.serverCert, `plugin ${name}`);
  } catch (err) {
    throw new AgentError("AGENT_MTLS", (err as Error).message);
  }
  return mtlsTransport(own, peer).channel;
}
