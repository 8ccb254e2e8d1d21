/** How a child process ends: waiting for it, the words for it, and stopping it (ask, wait, kill). */
import type { ChildProcess } from "node:child_process";

/** A process's end: its exit code, or the signal that killed it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** "exit status 2" or "signal SIGKILL". */
export function describeExit(e: ProcessExit): string {
  return e.signal ? `signal ${e.signal}` : `exit status ${e.code}`;
}

/** True once `child` has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

const exits = new WeakMap<ChildProcess, Promise<ProcessExit>>();

/**
 * Resolves when `child` has exited and its stdio is closed ("close"). Call it
 * (or spawn with spawnGuarded, which does) before the child can end, so the
 * event is not missed.
 */
export function exitOf(child: ChildProcess): Promise<ProcessExit> {
  let p = exits.get(child);
  if (!p) {
    // Unknown and already ended: its "close" may be past; report what it left.
    if (hasExited(child))
      return Promise.resolve({ code: child.exitCode, signal: child.signalCode as NodeJS.Signals | null });
    p = new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
    exits.set(child, p);
  }
  return p;
}

/** How {@link terminate} ended the process. */
export type Termination = "already-exited" | "exited" | "killed";

/**
 * Stops `child` as the kubelet and go-plugin do: ask (`signal`, default
 * SIGTERM; null when the caller already asked another way, e.g. a gRPC
 * Shutdown), wait up to `graceMs`, then SIGKILL. Resolves once it is gone.
 */
export async function terminate(
  child: ChildProcess,
  graceMs: number,
  signal: NodeJS.Signals | null = "SIGTERM",
): Promise<Termination> {
  const gone = exitOf(child);
  if (hasExited(child)) {
    await gone;
    return "already-exited";
  }
  if (signal) child.kill(signal);
  let killed = false;
  const timer = setTimeout(() => {
    killed = !hasExited(child);
    if (killed) child.kill("SIGKILL");
  }, graceMs);
  await gone;
  clearTimeout(timer);
  return killed ? "killed" : "exited";
}
