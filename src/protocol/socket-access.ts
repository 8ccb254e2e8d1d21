/**
 * Who may connect to a plugin's sockets when host and plugin run under
 * different uids (one pod, several containers). The rule, for both sides:
 * everything is group-accessible to one shared group — the pod's `fsGroup`,
 * which the kubelet gives every container as a supplementary group and to
 * the socket volume — and nothing is world-writable.
 *
 *   plugin side  the socket folder is setgid and group rwx (2770 when the
 *                plugin owns it), each socket is chowned to the group and
 *                made 0660: PLUGIN_UNIX_SOCKET_GROUP when set (go-plugin's
 *                variable), else the folder's group in sidecar mode;
 *   host side    a connection refused with EACCES/EPERM is reported at once
 *                as SOCKET_PERMISSION, with the uids, gids and modes involved.
 */
import { chmodSync, chownSync, mkdirSync, type Stats, statSync } from "node:fs";
import { dirname } from "node:path";
import { PLUGIN_ENV } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { applySocketGroup } from "./socket.ts";

/** The mode a plugin gives the socket folder it owns: setgid, group rwx, nothing for others. */
export const SOCKET_DIR_MODE = 0o2770;
/** The mode of every socket (go-plugin's with PLUGIN_UNIX_SOCKET_GROUP). */
export const SOCKET_MODE = 0o660;

/** True when `err` is the kernel refusing access (not absence, not a dead socket). */
export function isAccessDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "EACCES" || code === "EPERM";
}

/**
 * Readies a sidecar plugin's socket folder: when this process owns it, it
 * becomes {@link SOCKET_DIR_MODE} (files created in it inherit its group);
 * a folder owned by someone else (the kubelet's subPath) is left as it is,
 * and a missing one is created so.
 * Returns the folder's gid, the group sockets get when no
 * PLUGIN_UNIX_SOCKET_GROUP is set.
 */
export function prepareSocketFolder(dir: string): number {
  // mkdir's mode passes through the umask and drops setgid: chmod below sets it.
  mkdirSync(dir, { recursive: true, mode: 0o770 });
  const st = statSync(dir);
  if (typeof process.getuid === "function" && st.uid === process.getuid() && (st.mode & 0o7777) !== SOCKET_DIR_MODE) {
    chmodSync(dir, SOCKET_DIR_MODE);
  }
  return st.gid;
}

/**
 * Gives a socket the shared group and mode 0660. `group` is
 * PLUGIN_UNIX_SOCKET_GROUP (name or gid; a bad one is ENV_INVALID, as in
 * go-plugin); without it, `folderGid` (sidecar mode). A process may only
 * chown to its own groups: when the folder's group is not one of them (no
 * `fsGroup` on the pod) the socket keeps the process's group, still 0660,
 * and `false` is returned so the caller can warn.
 */
export function shareSocket(path: string, group: string | undefined, folderGid: number | undefined): boolean {
  if (group !== undefined) {
    applySocketGroup(path, group);
    return true;
  }
  if (folderGid === undefined) return true;
  chmodSync(path, SOCKET_MODE);
  try {
    chownSync(path, -1, folderGid);
    return true;
  } catch (err) {
    if (isAccessDenied(err)) return false;
    throw err;
  }
}

/** Ownership and mode of a file, for messages: `uid 65532 gid 2000 mode 0660`, or why it cannot be seen. */
function describe(path: string): { text: string; stat?: { uid: number; gid: number; mode: string } } {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    return { text: `not visible: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
  return { text: `uid ${st.uid} gid ${st.gid} mode ${mode}`, stat: { uid: st.uid, gid: st.gid, mode } };
}

/** This process's identity: uid, gid and supplementary groups. */
export function processIdentity(): { uid: number; gid: number; groups: number[] } {
  return {
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    groups: process.getgroups?.() ?? [],
  };
}

/**
 * SOCKET_PERMISSION for `path` (a socket, a handshake file or a socket
 * folder) that `op` (connect, read, list) was refused on: names this
 * process's uid, gid and groups and the owner, group and mode of the file
 * and of its folder, and says what to change.
 */
export function accessDeniedError(path: string, op: string, cause: unknown): PodplugError {
  const me = processIdentity();
  const file = describe(path);
  const folder = describe(dirname(path));
  return new PodplugError(
    "SOCKET_PERMISSION",
    `permission denied to ${op} ${path} (${(cause as NodeJS.ErrnoException).code ?? "EACCES"}): this process runs as ` +
      `uid ${me.uid} gid ${me.gid} groups [${me.groups.join(",")}]; ${path} is ${file.text}, its folder ${folder.text}. ` +
      `Host and plugin must share a group: give the pod a securityContext.fsGroup (podplug then sets ` +
      `${PLUGIN_ENV.unixSocketGroup} to it, so sockets are 0660 in that group), or run both containers as one uid.`,
    { path, op, process: me, file: file.stat ?? file.text, folder: folder.stat ?? folder.text },
    { cause },
  );
}
