/**
 * Sidecar mode: the plugin was not started by its host, so the host (in
 * another container, sharing the socket folder) cannot read its stdout. The
 * handshake line is written to a file next to the socket instead, atomically,
 * so a reader never sees half a line.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** The fixed socket name of a TypeScript plugin in sidecar mode. */
export const SIDECAR_SOCKET_NAME = "plugin.sock";

/** The handshake file's default name in a plugin's socket folder. */
export const HANDSHAKE_FILE_NAME = "handshake";

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
