/**
 * Spawning children that cannot outlive this process: the kernel kills them
 * if we die (PR_SET_PDEATHSIG, through util-linux `setpriv --pdeathsig KILL`
 * where it exists), and a sweep SIGKILLs those still running when we exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { exitOf, hasExited } from "./exit.ts";

const SETPRIV = "/usr/bin/setpriv";
/** Whether children get PR_SET_PDEATHSIG (Linux with util-linux's setpriv). */
export const PDEATHSIG_AVAILABLE = process.platform === "linux" && existsSync(SETPRIV);

const live = new Set<ChildProcess>();
let sweepInstalled = false;

/** SIGKILLs any child still running when this process exits. */
function installSweep(): void {
  if (sweepInstalled) return;
  sweepInstalled = true;
  process.on("exit", () => {
    for (const c of live) if (!hasExited(c)) c.kill("SIGKILL");
  });
}

/** How to spawn a guarded child. */
export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string | undefined;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches only us and we stop
   * children in our own order (default false).
   */
  detached?: boolean;
  /**
   * Run as this user and group (needs root), with no supplementary groups.
   * The death signal is set after the switch, so it holds (a credential
   * change clears it).
   */
  user?: { uid: number; gid: number };
  /** The child's umask (default: this process's). */
  umask?: number;
}

/**
 * Spawns `command` with stdin ignored and stdout/stderr piped, bound to this
 * process's life. {@link exitOf} works on the result from the start.
 */
export function spawnGuarded(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  installSweep();
  const [file, argv] = PDEATHSIG_AVAILABLE
    ? [SETPRIV, ["--pdeathsig", "KILL", "--", command, ...args]]
    : [command, [...args]];
  // A child inherits the umask at fork, which spawn() does synchronously: set it around the call only.
  const previous = opts.umask === undefined ? undefined : process.umask(opts.umask);
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      env: opts.env,
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? false,
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
  void exitOf(child);
  live.add(child);
  child.once("close", () => live.delete(child));
  return child;
}
