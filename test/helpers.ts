/** Shared helpers for tests: log capture, temp folders, polling, sidecar processes. */
import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";
import { spawnGuarded } from "../src/process/spawn.ts";
import { registerCapturedLog } from "./failure-logs.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const fixture = (name: string): string => join(ROOT, "test", "fixtures", name);
/** The Node binary running the tests (Node 24 from node_modules). */
export const NODE = process.execPath;

/** A pino logger whose records land in `records`. */
export function captureLogger(level = "trace"): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n"))
        if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  registerCapturedLog(records);
  return { logger: pino({ level }, stream), records };
}

/** A short temp folder (socket paths must stay under 107 bytes), removed by the returned function. */
export function tempDir(prefix = "pt-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls `cond` every 20 ms until it returns a truthy value or `ms` passes (then throws). */
export async function waitFor<T>(cond: () => T | Promise<T>, ms = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts test/fixtures/test-plugin.ts in sidecar mode, as the operator would:
 * serving in `dir`, its handshake file `dir/handshake`, offered version 1
 * unless `env` says otherwise.
 */
export function startSidecar(dir: string, env: Record<string, string> = {}): ChildProcess {
  // Guarded: a sidecar does not watch its parent, so without PR_SET_PDEATHSIG a runner that exits mid-test orphans it.
  return spawnGuarded(NODE, [fixture("test-plugin.ts")], {
    env: {
      ...process.env,
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      PODPLUG_HANDSHAKE_FILE: join(dir, "handshake"),
      ...env,
    },
  });
}

/** SIGTERMs `p` (if still running) and waits for it to close. */
export async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  await new Promise((r) => p.once("close", r));
}

/**
 * Runs a tools/ build script that caches into $PODPLUG_CACHE (a cold build
 * can take minutes) and returns the last line it prints: the built path.
 */
export function cachedBuild(script: string): string {
  return execFileSync(join(ROOT, "tools", script), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 15 * 60_000,
  })
    .trim()
    .split("\n")
    .at(-1)!;
}
