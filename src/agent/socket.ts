/**
 * Finds a plugin's socket in its folder, as docs/architecture.md says: the
 * address in the `handshake` file when there is one (a podplug plugin in
 * sidecar mode), else the newest `plugin*` socket that accepts a connection
 * (an unmodified Go plugin, whose socket name is random).
 */
import { findPluginEndpoint } from '../protocol/sidecar.ts';
import { AgentError } from './errors.ts';

/** Where a plugin listens, and its AutoMTLS certificate if its handshake announced one. */
export interface PluginEndpoint {
  socket: string;
  /** The handshake's sixth field: the plugin's certificate, DER base64. */
  serverCert?: string;
}

/** Address (and certificate) of a go-plugin handshake line: CORE|APP|NETWORK|ADDR|PROTOCOL[|CERT]. */
export function handshakeEndpoint(line: string, file: string): PluginEndpoint {
  const parts = line.trim().split('|');
  if (parts.length < 5) {
    throw new AgentError('PODPLUG_AGENT_BAD_HANDSHAKE_FILE',
      `${file} holds ${JSON.stringify(line.trim().slice(0, 120))}, not a go-plugin handshake line (CORE|APP|NETWORK|ADDR|PROTOCOL): the plugin must write the exact line`);
  }
  if (parts[2] !== 'unix') {
    throw new AgentError('PODPLUG_AGENT_BAD_HANDSHAKE_FILE',
      `${file} announces network ${JSON.stringify(parts[2])}; a sidecar plugin must listen on a Unix socket in its folder`);
  }
  const cert = parts[5]?.trim();
  return cert ? { socket: parts[3]!, serverCert: cert } : { socket: parts[3]! };
}

/** The endpoint of the plugin whose folder is `dir`; throws AgentError when there is none. */
export async function findPluginSocket(dir: string, connectTimeoutMs = 500): Promise<PluginEndpoint> {
  let ep: Awaited<ReturnType<typeof findPluginEndpoint>>;
  try {
    ep = await findPluginEndpoint(dir, connectTimeoutMs);
  } catch (err) {
    throw new AgentError('PODPLUG_AGENT_NO_SOCKET', `cannot read ${dir}: ${(err as Error).message} (has the plugin container started?)`);
  }
  if (ep.kind === 'file') return handshakeEndpoint(ep.line, ep.file);
  if (ep.kind === 'socket') return { socket: ep.socket };
  throw new AgentError('PODPLUG_AGENT_NO_SOCKET',
    `no handshake file and no live plugin* socket in ${dir} (${ep.staleSockets} stale socket(s) found): the plugin is not listening yet, or crashed`);
}
