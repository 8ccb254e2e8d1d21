/**
 * A child process of the harness: output to a log file, stopped with SIGTERM
 * then SIGKILL, and killed when the test process exits however it exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { HarnessError } from "./errors.ts";

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** A started component process. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  private exitPromise: Promise<number | null>;

  constructor(name: string, bin: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv) {
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, "a");
    try {
      this.child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: env ?? process.env });
    } finally {
      closeSync(fd);
    }
    live.add(this.child);
    this.exitPromise = new Promise((resolve) => {
      this.child.on("exit", (code) => {
        live.delete(this.child);
        resolve(code);
      });
      this.child.on("error", () => {
        live.delete(this.child);
        resolve(null);
      });
    });
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && live.has(this.child);
  }

  /** Resolves with the exit code when the process ends. */
  exited(): Promise<number | null> {
    return this.exitPromise;
  }

  /** The last `lines` lines of its log, for error messages. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Fails with the log tail if the process has died. */
  assertRunning(): void {
    if (!this.running) {
      throw new HarnessError(
        "CLUSTER_START_FAILED",
        `${this.name} exited (code ${this.child.exitCode}); last lines of ${this.logFile}:\n${this.tail()}`,
      );
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
