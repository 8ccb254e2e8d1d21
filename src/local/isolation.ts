/**
 * How far plugins are kept apart under `podplug run`. In a pod, each plugin
 * container mounts only its own sub-folder of the socket volume; locally all
 * processes share one file system, so a folder alone stops nothing. When the
 * runtime runs as root it gives each plugin its own uid and gid and makes its
 * socket folder that user's, mode 0700: another plugin cannot enter it, while
 * the host, the agent (root, as the containers that mount the whole volume)
 * still reach every socket. Without root, or when plugins could not reach
 * their own files as another user, every process runs as the runtime's user
 * and the separation is by convention only; the run says so at start.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** `auto`: per-plugin users when possible (root, reachable folders), else none, with the reason logged. */
export type IsolationMode = "auto" | "uid" | "none";

/** What a run decided. */
export interface Isolation {
  /** True: each plugin runs as its own user, with a 0700 socket folder. */
  perPluginUser: boolean;
  /** Why not, when not (for the log and the view). */
  reason?: string;
  /** The user of `plugin` (stable within a run, unique among its plugins). */
  userFor(key: string): { uid: number; gid: number };
}

/** The uid range plugins get (below 65534, nobody; inside the common 16-bit user-namespace maps). */
export const PLUGIN_UID_MIN = 61000;
export const PLUGIN_UID_MAX = 64999;

/** The first folder of `dir` and its parents that other users cannot enter (no o+x), if any. */
export function privateAncestor(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (dirname(d) === d) return undefined;
  }
}

function usedUids(): Set<number> {
  const used = new Set<number>();
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const uid = Number(line.split(":")[2]);
      if (Number.isInteger(uid)) used.add(uid);
    }
  } catch {
    // No /etc/passwd: nothing known to avoid.
  }
  return used;
}

/** FNV-1a, for a stable uid per plugin folder (two runs seldom pick the same). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Decides the isolation of a run whose state lives in `stateDir` and whose
 * containers work in `cwd`. `uid` mode throws (via `refuse`) where `auto`
 * falls back.
 */
export function decideIsolation(
  mode: IsolationMode,
  folders: { stateDir: string; cwd: string },
  refuse: (reason: string) => never,
): Isolation {
  const none = (reason: string): Isolation => {
    if (mode === "uid") refuse(reason);
    return {
      perPluginUser: false,
      reason,
      userFor: () => {
        throw new Error("no per-plugin users in this run");
      },
    };
  };
  if (mode === "none") return none("--isolation none");
  if (process.platform !== "linux" || process.getuid?.() !== 0)
    return none("not running as root: every process runs as this user");
  for (const [what, dir] of [
    ["the state folder", folders.stateDir],
    ["the working folder", folders.cwd],
  ] as const) {
    const closed = privateAncestor(dir);
    if (closed)
      return none(
        `${what} ${dir} is inside ${closed}, which other users cannot enter (chmod o+x ${closed}, or use another folder, to run each plugin as its own user)`,
      );
  }
  try {
    accessSync(process.execPath, constants.X_OK);
  } catch {
    return none(`${process.execPath} is not executable`);
  }
  const used = usedUids();
  const taken = new Map<string, number>();
  const span = PLUGIN_UID_MAX - PLUGIN_UID_MIN + 1;
  return {
    perPluginUser: true,
    userFor(key) {
      let uid = taken.get(key);
      if (uid === undefined) {
        const mine = new Set(taken.values());
        let n = hash(key) % span;
        for (let i = 0; i < span && (used.has(PLUGIN_UID_MIN + n) || mine.has(PLUGIN_UID_MIN + n)); i++)
          n = (n + 1) % span;
        uid = PLUGIN_UID_MIN + n;
        taken.set(key, uid);
      }
      return { uid, gid: uid };
    },
  };
}
