/**
 * The temp socket folder a host makes for the plugins it starts (cmd mode):
 * `$TMPDIR/pp-<pid>-XXXXXX`, holding an owner file with the host's identity.
 * It is removed on every exit Node can observe (src/process/on-exit.ts); what
 * a SIGKILLed host leaves, the next host to make one sweeps: only folders of
 * that exact shape, owned by this user, whose owner file names a process that
 * is gone — never a live process's, never an unrelated path.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityAlive, selfIdentity } from "../process/identity.ts";
import { onExit } from "../process/on-exit.ts";

/** The owner file's name in a host's socket folder. */
export const OWNER_FILE = ".podplug-host";
const FOLDER = /^pp-(\d+)-[A-Za-z0-9]{6}$/;

/** A socket folder this host owns: remove() it when done (it is removed at exit regardless). */
export interface OwnedSocketDir {
  readonly path: string;
  remove(): void;
}

/** Makes a socket folder under `root` (default: the OS temp folder), sweeping dead hosts' folders there first. */
export function makeSocketDir(root: string = tmpdir()): OwnedSocketDir {
  // Every time, not once per process: a long-lived host outlives the hosts it would sweep after.
  sweepDeadHostDirs(root);
  const path = mkdtempSync(join(root, `pp-${process.pid}-`));
  writeFileSync(join(path, OWNER_FILE), `${selfIdentity()}\n`, { mode: 0o600 });
  const rm = (): void => rmSync(path, { recursive: true, force: true });
  const forget = onExit(rm);
  return {
    path,
    remove() {
      forget();
      rm();
    },
  };
}

/** Removes the socket folders under `root` left by host processes that are gone; returns the paths removed. */
export function sweepDeadHostDirs(root: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = FOLDER.exec(name);
    if (!m) continue;
    const path = join(root, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const owner = readFileSync(join(path, OWNER_FILE), "utf8");
      // The owner file must name the pid the folder is named for: anything else is not ours to judge.
      if (owner.split(" ")[0] !== m[1] || identityAlive(owner)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // No owner file, or it vanished meanwhile: not a folder to touch.
    }
  }
  return removed;
}
