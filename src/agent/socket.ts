/**
 * Finds a plugin's socket in its folder, as docs/architecture.md says: the
 * address in the `handshake` file when there is one (a podplug plugin in
 * sidecar mode), else the newest `plugin*` socket that accepts a connection
 * (an unmodified Go plugin, whose socket name is random).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isLiveSocket } from '../protocol/socket.ts';
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
  const file = join(dir, 'handshake');
  let line: string | undefined;
  try {
    line = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AgentError('PODPLUG_AGENT_NO_SOCKET', `cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (line !== undefined) return handshakeEndpoint(line, file);

  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith('plugin'));
  } catch (err) {
    throw new AgentError('PODPLUG_AGENT_NO_SOCKET', `cannot list ${dir}: ${(err as Error).message} (has the plugin container started?)`);
  }
  const sockets: { path: string; mtime: number }[] = [];
  for (const n of names) {
    const path = join(dir, n);
    try {
      const st = await stat(path);
      if (st.isSocket()) sockets.push({ path, mtime: st.mtimeMs });
    } catch {
      // Vanished between readdir and stat: a restarting plugin.
    }
  }
  sockets.sort((a, b) => b.mtime - a.mtime);
  for (const s of sockets) {
    if (await isLiveSocket(s.path, connectTimeoutMs)) return { socket: s.path };
  }
  throw new AgentError('PODPLUG_AGENT_NO_SOCKET',
    `no handshake file and no live plugin* socket in ${dir} (${sockets.length} stale socket(s) found): the plugin is not listening yet, or crashed`);
}
