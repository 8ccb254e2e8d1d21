/**
 * Telling a live process from a dead one whose pid was reused: a pid plus its
 * start time (field 22 of /proc/<pid>/stat, clock ticks since boot) names one
 * process for the life of the machine.
 */
import { readFileSync } from "node:fs";

/** The start time of process `pid` as the kernel reports it, or undefined when there is no such process (or no /proc). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/** This process's identity: `<pid> <start time>`. */
export function selfIdentity(): string {
  return `${process.pid} ${processStartTime(process.pid) ?? "?"}`;
}

/**
 * True while the process an identity names runs. Without /proc, a pid that
 * exists counts as alive: never mistake a live process for a dead one.
 */
export function identityAlive(identity: string): boolean {
  const [pidText, start] = identity.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const now = processStartTime(pid);
  return now === undefined || start === "?" || now === start;
}
