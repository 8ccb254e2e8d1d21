/**
 * Processes under other uids, as containers of a pod with `fsGroup: 2000`
 * run: setpriv argv and a socket folder as the kubelet leaves it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export const FS_GROUP = 2000;
export const PLUGIN_UID = 65532;
export const HOST_UID = 1000;

/** argv that runs `cmd` as uid:gid (same number) with exactly the supplementary `groups`. */
export function as(uid: number, groups: number[], cmd: string[]): string[] {
  const g = groups.length > 0 ? [`--groups=${groups.join(",")}`] : ["--clear-groups"];
  return ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, ...g, "--", ...cmd];
}

/** A pod's socket folder `<root>/<name>` as the kubelet leaves it with fsGroup: root-owned, group `gid`. */
export function podFolder(root: string, mode: number, gid = FS_GROUP, name = "kv"): string {
  const dir = join(root, name);
  mkdirSync(dir);
  chownSync(dir, 0, gid);
  chmodSync(dir, mode);
  return dir;
}

/** Starts `argv` with only PATH, HOME and `env`, its output drained. */
export function run(argv: string[], env: Record<string, string>, cwd?: string): ChildProcess {
  const p = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(cwd ? { cwd } : {}),
  });
  p.stdout!.resume();
  p.stderr!.resume();
  return p;
}
