/**
 * What a failing test prints besides mocha's report: the output of every
 * process it started through spawnGuarded (the SDK's plugins, the local
 * runtime's containers, the tests' sidecars) and the records of the loggers
 * it captured (test/helpers.ts captureLogger), the last lines of each.
 */
import type { ChildProcess } from "node:child_process";
import { observeSpawns } from "../src/process/spawn.ts";

const KEEP = 60;

interface ProcessLog {
  pid: number | undefined;
  command: string;
  lines: string[];
  exit?: string;
}

let procs: ProcessLog[] = [];
let loggers: Record<string, unknown>[][] = [];

function keep(into: string[], chunk: Buffer | string, stream: string): void {
  for (const line of chunk.toString().split("\n")) {
    if (line === "") continue;
    into.push(`${stream}: ${line}`);
    if (into.length > KEEP) into.shift();
  }
}

observeSpawns((child: ChildProcess, command: string, args: readonly string[]) => {
  const log: ProcessLog = { pid: child.pid, command: [command, ...args].join(" "), lines: [] };
  procs.push(log);
  child.stdout?.on("data", (c: Buffer) => keep(log.lines, c, "stdout"));
  child.stderr?.on("data", (c: Buffer) => keep(log.lines, c, "stderr"));
  child.once("exit", (code, signal) => (log.exit = signal ? `signal ${signal}` : `exit status ${code}`));
});

/** Starts collecting for a new test. */
export function startFailureLogs(): void {
  procs = [];
  loggers = [];
}

/** Registers a captured logger's records, printed if the test fails. */
export function registerCapturedLog(records: Record<string, unknown>[]): void {
  loggers.push(records);
}

/** Prints what the failed test's processes and loggers wrote. */
export function printFailureLogs(title: string): void {
  const out: string[] = [`\n--- logs of the failed test "${title}" ---`];
  for (const p of procs) {
    out.push(`process ${p.pid} (${p.exit ?? "still running"}): ${p.command}`);
    for (const l of p.lines) out.push(`  ${l}`);
  }
  loggers.forEach((records, i) => {
    out.push(`captured logger ${i + 1} (last ${Math.min(KEEP, records.length)} of ${records.length} records):`);
    for (const r of records.slice(-KEEP)) out.push(`  ${JSON.stringify(r)}`);
  });
  out.push("--- end of logs ---");
  process.stderr.write(`${out.join("\n")}\n`);
}
