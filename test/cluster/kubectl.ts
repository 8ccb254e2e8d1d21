/** Runs the real kubectl (and helm) against a test cluster. */
import { spawn } from "node:child_process";
import { HarnessError } from "./errors.ts";

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run a command: its stdin, environment and time limit (default 60 s). */
export interface RunOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Each line of stdout as it comes, for a command that streams (`kubectl get --watch`, `logs -f`). */
  onLine?: (line: string) => void;
  /** Ends the command (SIGKILL) when aborted; it then resolves as killed. */
  signal?: AbortSignal;
}

/** Runs `bin args` with `stdin`; resolves whatever the exit code. */
export function run(bin: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      if (!opts.onLine) return;
      const lines = (partial + d).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) opts.onLine(l);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    const abort = (): boolean => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", abort, { once: true });
    if (opts.signal?.aborted) abort();
    child.on("error", (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", abort);
      reject(new HarnessError("CLUSTER_COMMAND_FAILED", `could not run ${bin}: ${err.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", abort);
      if (partial !== "") opts.onLine?.(partial);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits before reading its stdin (a usage error) makes the write fail with EPIPE;
    // its exit code and stderr already say what went wrong.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.stdin ?? "");
  });
}

/** Like run(), but throws with the output when the exit code is not 0. */
export async function runOk(bin: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(bin, args, opts);
  if (r.code !== 0) {
    throw new HarnessError(
      "CLUSTER_COMMAND_FAILED",
      `${bin} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}
