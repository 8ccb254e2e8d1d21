/**
 * The agent's side of AutoMTLS: when the operator mounted plugin <name>'s host
 * certificate (PODPLUG_MTLS_ROOT/<name>/tls.crt, tls.key), the agent checks
 * health as the host would — presenting that certificate and trusting exactly
 * the one the plugin announced in its handshake file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { handshakeFieldToCert } from "../protocol/mtls.ts";
import { mtlsTransport } from "../protocol/transport.ts";
import { AgentError } from "./errors.ts";
import type { PluginEndpoint } from "./socket.ts";

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AgentError("PODPLUG_AGENT_MTLS", `cannot read ${path}: ${(err as Error).message}`);
  }
}

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
  const certPem = dir ? await readIfPresent(join(dir, "tls.crt")) : undefined;
  const keyPem = dir ? await readIfPresent(join(dir, "tls.key")) : undefined;
  if (!certPem && !ep.serverCert) return undefined;
  if (!ep.serverCert) {
    throw new AgentError(
      "PODPLUG_AGENT_MTLS",
      `plugin ${name} has a host certificate in ${dir} but announced no certificate of its own in a handshake file: an unmodified Go plugin prints it only on stdout, so AutoMTLS needs a plugin in podplug sidecar mode`,
    );
  }
  if (!certPem || !keyPem) {
    throw new AgentError(
      "PODPLUG_AGENT_MTLS",
      `plugin ${name} serves AutoMTLS but ${dir ?? "PODPLUG_MTLS_ROOT"}/tls.crt and tls.key are not mounted: is spec.autoMTLS set and the Secret podplug-${name}-mtls present?`,
    );
  }
  let peer: string;
  try {
    peer = handshakeFieldToCert(ep.serverCert, `plugin ${name}`);
  } catch (err) {
    throw new AgentError("PODPLUG_AGENT_MTLS", (err as Error).message);
  }
  return mtlsTransport({ certPem, keyPem }, peer).channel;
}
