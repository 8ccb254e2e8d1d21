/** Runs the real kubectl (and helm) against a test cluster. */
import { spawn } from "node:child_process";
import { HarnessError } from "./errors.ts";

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin args` with `stdin`; resolves whatever the exit code. */
export function run(
  bin: string,
  args: string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new HarnessError("CLUSTER_COMMAND_FAILED", `could not run ${bin}: ${err.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits before reading its stdin (a usage error) makes the write fail with EPIPE;
    // its exit code and stderr already say what went wrong.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.stdin ?? "");
  });
}

/** Like run(), but throws with the output when the exit code is not 0. */
export async function runOk(
  bin: string,
  args: string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  const r = await run(bin, args, opts);
  if (r.code !== 0) {
    throw new HarnessError(
      "CLUSTER_COMMAND_FAILED",
      `${bin} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}
