/**
 * Sidecar mode: the plugin was not started by its host, so the host (in
 * another container, sharing the socket folder) cannot read its stdout. The
 * handshake line is written to a file next to the socket instead, atomically,
 * so a reader never sees half a line. Readers (the host SDK, the agent) find
 * a plugin through {@link findPluginEndpoint}: that file, or for an
 * unmodified Go plugin, which writes none, its newest live `plugin*` socket.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { HANDSHAKE_FILE_NAME, PLUGIN_SOCKET_PREFIX, SIDECAR_SOCKET_NAME } from "../constants.ts";
import { probeSocket } from "./socket.ts";
import { accessDeniedError, isAccessDenied } from "./socket-access.ts";

/** Writes `line` to `path` by write-then-rename (readers see the old file or the new one). */
export function writeHandshakeFile(path: string, line: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${line}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Removes the handshake file if it still holds our line (a newer process may have replaced it). */
export function removeHandshakeFile(path: string, line: string): void {
  try {
    if (readFileSync(path, "utf8").trim() === line) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Where a plugin in a socket folder announced itself. */
export type PluginEndpoint =
  /**
   * A podplug plugin's handshake file: its line, unparsed (the reader knows what to expect), and
   * the mtime of the file that line was read from.
   */
  | { kind: "file"; file: string; line: string; mtimeMs: number }
  /** No file: the newest `plugin*` socket that accepts a connection. */
  | { kind: "socket"; socket: string };

/** Nothing live in the folder yet; `staleSockets` counts dead `plugin*` sockets (a crashed plugin's). */
export interface NoEndpoint {
  kind: "none";
  staleSockets: number;
}

/**
 * One look at a plugin's socket folder (a missing folder is an empty one);
 * read errors other than that are thrown, and a folder, handshake file or
 * socket this process may not use is SOCKET_PERMISSION at once (waiting
 * would not change it).
 */
export async function findPluginEndpoint(dir: string, connectTimeoutMs = 500): Promise<PluginEndpoint | NoEndpoint> {
  const file = join(dir, HANDSHAKE_FILE_NAME);
  try {
    // The line and its mtime from one open file: a stat by name after the read could see a restarted
    // plugin's file renamed in meanwhile, and vouch for the old line.
    const fh = await open(file, "r");
    try {
      const { mtimeMs } = await fh.stat();
      return { kind: "file", file, line: await fh.readFile("utf8"), mtimeMs };
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isAccessDenied(err)) throw accessDeniedError(file, "read", err);
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  let names: string[];
  try {
    // A TypeScript sidecar's socket counts only through its handshake file: found before the
    // file is written, it would be taken for a Go plugin's and its version assumed.
    names = (await readdir(dir)).filter((n) => n.startsWith(PLUGIN_SOCKET_PREFIX) && n !== SIDECAR_SOCKET_NAME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { kind: "none", staleSockets: 0 };
    if (isAccessDenied(err)) throw accessDeniedError(dir, "list", err);
    throw err;
  }
  const sockets: { path: string; mtime: number }[] = [];
  for (const n of names) {
    const path = join(dir, n);
    try {
      const st = await stat(path);
      if (st.isSocket()) sockets.push({ path, mtime: st.mtimeMs });
    } catch {
      // vanished between readdir and stat: a restarting plugin
    }
  }
  sockets.sort((a, b) => b.mtime - a.mtime);
  let denied: { path: string; error: NodeJS.ErrnoException } | undefined;
  for (const s of sockets) {
    const probe = await probeSocket(s.path, connectTimeoutMs);
    if (probe.live) return { kind: "socket", socket: s.path };
    if (probe.error && isAccessDenied(probe.error)) denied ??= { path: s.path, error: probe.error };
  }
  if (denied) throw accessDeniedError(denied.path, "connect to", denied.error);
  return { kind: "none", staleSockets: sockets.length };
}
