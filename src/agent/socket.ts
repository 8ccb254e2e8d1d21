/**
 * Finds a plugin's socket in its folder, as docs/architecture.md says: the
 * address in the `handshake` file when there is one (a podplug plugin in
 * sidecar mode), else the newest `plugin*` socket that accepts a connection
 * (an unmodified Go plugin, whose socket name is random).
 */
import { parseHandshake } from "../protocol/handshake.ts";
import { findPluginEndpoint } from "../protocol/sidecar.ts";
import { AgentError } from "./errors.ts";

/** Where a plugin listens, and its AutoMTLS certificate if its handshake announced one. */
export interface PluginEndpoint {
  socket: string;
  /** The handshake's sixth field: the plugin's certificate, DER base64. */
  serverCert?: string;
}

/** Address (and certificate) of a handshake file's line, read by the host's own parser (any app version, Unix only). */
export function handshakeEndpoint(line: string, file: string): PluginEndpoint {
  try {
    const h = parseHandshake(line, { versions: "any", networks: ["unix"], source: file });
    return h.serverCert ? { socket: h.address, serverCert: h.serverCert } : { socket: h.address };
  } catch (err) {
    throw new AgentError(
      "AGENT_BAD_HANDSHAKE_FILE",
      `${file}: not a usable go-plugin handshake line: ${(err as Error).message}`,
    );
  }
}

/** The endpoint of the plugin whose folder is `dir`; throws AgentError when there is none. */
export async function findPluginSocket(dir: string, connectTimeoutMs = 500): Promise<PluginEndpoint> {
  let ep: Awaited<ReturnType<typeof findPluginEndpoint>>;
  try {
    ep = await findPluginEndpoint(dir, connectTimeoutMs);
  } catch (err) {
    throw new AgentError(
      "AGENT_NO_SOCKET",
      `cannot read ${dir}: ${(err as Error).message} (has the plugin container started?)`,
    );
  }
  if (ep.kind === "file") return handshakeEndpoint(ep.line, ep.file);
  if (ep.kind === "socket") return { socket: ep.socket };
  throw new AgentError(
    "AGENT_NO_SOCKET",
    `no handshake file and no live plugin* socket in ${dir} (${ep.staleSockets} stale socket(s) found): the plugin is not listening yet, or crashed`,
  );
}
