/**
 * Unix socket files: naming, the path-length limit, stale and foreign files,
 * and the group permissions go-plugin applies (PLUGIN_UNIX_SOCKET_GROUP).
 */
import { randomInt } from "node:crypto";
import { chmodSync, chownSync, lstatSync, readFileSync, type Stats, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { PLUGIN_SOCKET_PREFIX } from "../constants.ts";
import { PodplugError } from "../errors.ts";

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A fresh socket path in `dir`, named like go-plugin's (`plugin` + random digits). */
export function newSocketPath(dir: string): string {
  const path = join(dir, `${PLUGIN_SOCKET_PREFIX}${randomInt(1e9, 1e10 - 1)}`);
  checkSocketPath(path);
  return path;
}

/** Throws SOCKET_PATH_TOO_LONG when the kernel would refuse (or silently truncate) `path`. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new PodplugError(
      "SOCKET_PATH_TOO_LONG",
      `socket path ${path} is ${bytes} bytes; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}. ` +
        `Point PLUGIN_UNIX_SOCKET_DIR (or TMPDIR) at a shorter folder.`,
      { path, bytes },
    );
  }
}

/** What a connection attempt found: a listener, nothing (`error` says why), or no answer within the timeout. */
export type SocketProbe = { live: true } | { live: false; error?: NodeJS.ErrnoException };

/** Tries to connect to the socket at `path` once. */
export function probeSocket(path: string, timeoutMs = 1000): Promise<SocketProbe> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: SocketProbe): void => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done({ live: false }), timeoutMs);
    s.once("connect", () => done({ live: true }));
    s.once("error", (error: NodeJS.ErrnoException) => done({ live: false, error }));
  });
}

/** True when something accepts connections on the socket at `path`. */
export async function isLiveSocket(path: string, timeoutMs = 1000): Promise<boolean> {
  return (await probeSocket(path, timeoutMs)).live;
}

/**
 * Makes `path` free to listen on: nothing there is fine; a dead socket (left
 * by a killed process) is removed; a live socket or any other kind of file is
 * refused with SOCKET_IN_USE and left untouched.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new PodplugError(
      "SOCKET_IN_USE",
      `${path} exists and is not a socket; refusing to replace it. Remove it or choose another socket folder.`,
      { path },
    );
  }
  if (await isLiveSocket(path)) {
    throw new PodplugError(
      "SOCKET_IN_USE",
      `another process is serving on ${path}; stop it first or use another socket folder.`,
      { path },
    );
  }
  unlinkSync(path);
}

/** Applies go-plugin's PLUGIN_UNIX_SOCKET_GROUP rule: chown to the group (name or gid), mode 0660. */
export function applySocketGroup(path: string, group: string): void {
  chownToGroup(path, group);
  chmodSync(path, 0o660);
}

/** chown to `group`; a group this process is not in is SOCKET_GROUP_DENIED, saying whose groups and what to do. */
function chownToGroup(path: string, group: string): void {
  const gid = resolveGroup(group);
  try {
    chownSync(path, -1, gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "EACCES") throw err;
    const uid = process.getuid?.();
    const groups = process.getgroups?.() ?? [];
    throw new PodplugError(
      "SOCKET_GROUP_DENIED",
      `cannot give ${path} the group ${group} (PLUGIN_UNIX_SOCKET_GROUP): ${code}; this process (uid ${uid}, groups ${groups.join(",") || "none"}) is not a member of gid ${gid}. Run it with that group among its groups (in a pod, the securityContext.fsGroup does it) or unset PLUGIN_UNIX_SOCKET_GROUP.`,
      { path, group, gid, uid, groups },
      { cause: err },
    );
  }
}

/** The gid of a group name (from /etc/group) or numeric gid; ENV_INVALID when there is none. */
export function resolveGroup(group: string): number {
  const gid = /^\d+$/.test(group) ? Number(group) : lookupGroup(group);
  if (gid === undefined) {
    throw new PodplugError(
      "ENV_INVALID",
      `PLUGIN_UNIX_SOCKET_GROUP=${group}: no such group in /etc/group. Give a group name or a numeric gid.`,
      { group },
    );
  }
  return gid;
}

/** go-plugin's setGroupWritable for the host's socket folder: the group, mode 0770. */
export function setGroupWritable(path: string, group: string): void {
  chownToGroup(path, group);
  chmodSync(path, 0o770);
}

function lookupGroup(name: string): number | undefined {
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [n, , gid] = line.split(":");
      if (n === name && gid !== undefined) return Number(gid);
    }
  } catch {
    // no /etc/group (minimal images): only numeric gids work
  }
  return undefined;
}
