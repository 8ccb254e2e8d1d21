/**
 * A mocha root-hook plugin: the run ends because everything it opened is
 * closed (no `exit: true`), and whatever a test leaves behind fails the run,
 * naming the test. After each test it looks for what is new since the test
 * began and still there once it settles: child processes of the runner,
 * entries in the run's own temp folder (sockets, folders), and handles
 * (sockets, servers, pipes, child process handles). A leak is charged to the
 * test (or to the hooks before it, when it appeared between tests); the run's
 * final hook fails with the list and kills the leaked processes, so the run
 * still ends. A failing test also prints the logs of the processes it started
 * and of its captured loggers (test/failure-logs.ts).
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "mocha";
import { printFailureLogs, startFailureLogs } from "./failure-logs.ts";

// Every temp folder of the run lives in one folder of its own: other programs' /tmp entries are not ours to judge.
const RUN_TMP = mkdtempSync(join(tmpdir(), "podplug-test-"));
// As /tmp is: the local runtime's per-plugin users must pass through it (mkdtemp makes it 0700).
chmodSync(RUN_TMP, 0o1777);
process.env.TMPDIR = RUN_TMP;
// kubectl's and helm's discovery and HTTP caches (cli-runtime's KUBECACHEDIR; default ~/.kube/cache): the
// run's, so that a run leaves nothing in the user's home (test/node/teardown.test.ts compares it).
const KUBE_CACHE = "kube-cache";
process.env.KUBECACHEDIR = join(RUN_TMP, KUBE_CACHE);

/** Resource types that are a test's to close (timers are left to their owners: unref'd ones do not hold the run). */
const HANDLE_TYPES = new Set([
  "TCPWrap",
  "TCPServerWrap",
  "PipeWrap",
  "PipeServerWrap",
  "ProcessWrap",
  "UDPWrap",
  "Http2Session",
]);

interface Leak {
  owner: string;
  what: string;
  pid?: number;
}

const leaks: Leak[] = [];
const charged = new Set<string>();

function children(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      // A zombie is reaped by its owner's exit handler: it is not a leak.
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      out.set(Number(name), cmd);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Caches programs keep in the temp folder by design, not a test's to remove (Node's module compile cache, kubectl's). */
const CACHES = new Set(["node-compile-cache", KUBE_CACHE]);

function tempEntries(): Set<string> {
  try {
    return new Set(readdirSync(RUN_TMP).filter((e) => !CACHES.has(e)));
  } catch {
    return new Set();
  }
}

function handles(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of process.getActiveResourcesInfo()) if (HANDLE_TYPES.has(t)) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

interface Snapshot {
  children: Map<number, string>;
  temp: Set<string>;
  handles: Map<string, number>;
}

function snapshot(): Snapshot {
  return { children: children(), temp: tempEntries(), handles: handles() };
}

/** What is in `now` and not in `before`. */
function diff(before: Snapshot, now: Snapshot): string[] {
  const out: string[] = [];
  for (const [pid, cmd] of now.children) if (!before.children.has(pid)) out.push(`process ${pid}: ${cmd}`);
  for (const e of now.temp) if (!before.temp.has(e)) out.push(`temp entry ${join(RUN_TMP, e)}`);
  for (const [t, n] of now.handles) {
    const extra = n - (before.handles.get(t) ?? 0);
    if (extra > 0) out.push(`${extra} open ${t} handle(s)`);
  }
  return out;
}

/** Waits (bounded) until nothing new is left, polling the condition: processes and handles take a moment to close. */
async function settle(before: Snapshot, ms: number): Promise<{ now: Snapshot; left: string[] }> {
  const end = Date.now() + ms;
  for (;;) {
    const now = snapshot();
    const left = diff(before, now);
    if (left.length === 0 || Date.now() >= end) return { now, left };
    await new Promise((r) => setTimeout(r, 50));
  }
}

let baseline: Snapshot | undefined;
let last: Snapshot | undefined;

function charge(owner: string, left: string[]): void {
  for (const what of left) {
    const key = what.replace(/^\d+ open /, "open ");
    if (charged.has(`${owner}|${key}`)) continue;
    charged.add(`${owner}|${key}`);
    const pid = /^process (\d+):/.exec(what)?.[1];
    leaks.push({ owner, what, ...(pid ? { pid: Number(pid) } : {}) });
  }
}

/** Normalised, so a handle count charged to a test matches the run's final count of that type. */
const keyOf = (what: string): string => what.replace(/^\d+ open /, "open ");

/** The run's last hook: runs after every file's own root `after` (the shared cluster stops there). */
async function finalCheck(this: Context): Promise<void> {
  this.timeout(60_000);
  const { left } = await settle(baseline!, 10_000);
  const still = new Set(left.map(keyOf));
  // A leak counts if it is still there at the end: a shared resource a test started and a root `after` stopped is not one.
  const real = leaks.filter((l) => still.has(keyOf(l.what)));
  const charged = new Set(real.map((l) => keyOf(l.what)));
  for (const what of left)
    if (!charged.has(keyOf(what))) real.push({ owner: "a before/after hook (no test was running)", what });
  for (const l of real) {
    if (l.pid === undefined) continue;
    try {
      process.kill(l.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(RUN_TMP, { recursive: true, force: true });
  if (real.length > 0) {
    // A leaked handle would keep the run alive: end it once mocha has reported.
    setTimeout(() => process.exit(1), 5_000).unref();
    throw new Error(`the run left things behind:\n${real.map((l) => `  ${l.owner}: ${l.what}`).join("\n")}`);
  }
}

export const mochaHooks = {
  beforeAll(this: Context): void {
    baseline = snapshot();
    last = baseline;
    // Added now, it comes after the root `after` hooks the test files registered when they loaded.
    this.test?.parent?.afterAll("the run left nothing behind", finalCheck);
  },
  beforeEach(): void {
    // What appeared since the last test ended was made by hooks (a suite's before): theirs until the suite's after.
    last = snapshot();
    startFailureLogs();
  },
  async afterEach(this: Context): Promise<void> {
    const test = this.currentTest;
    const before = last!;
    const { now, left } = await settle(before, 5_000);
    if (test?.state === "failed") printFailureLogs(test.fullTitle());
    if (left.length > 0) charge(`test "${test?.fullTitle() ?? "?"}"`, left);
    // Leaks already charged are not charged again to the next test.
    last = now;
  },
};
