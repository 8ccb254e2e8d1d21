/**
 * Starting a plugin as a child process and reading its handshake line, with a
 * coded error for every way that can fail. Children die with the host:
 * `setpriv --pdeathsig KILL` (util-linux) where available, and a sweep on exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Logger as PinoLogger } from "pino";
import { PodplugError } from "../errors.ts";
import { forwardStderr, LineSplitter } from "./logs.ts";

/** How to run the plugin. */
export interface PluginCommand {
  /** Executable (looked up on PATH). */
  command: string;
  args?: string[];
  /** Extra environment for the plugin (on top of the host's, unless skipHostEnv). */
  env?: Record<string, string>;
  cwd?: string;
  /** Don't pass the host's own environment to the plugin (go-plugin's SkipHostEnv). */
  skipHostEnv?: boolean;
}

/** A started plugin process whose first stdout line has arrived. */
export interface StartedProcess {
  child: ChildProcess;
  /** The first stdout line (the handshake, unparsed). */
  line: string;
  /** Resolves with the exit code/signal when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of stderr, for error messages. */
  stderrTail(): string;
}

const live = new Set<ChildProcess>();
let sweepInstalled = false;
const SETPRIV = "/usr/bin/setpriv";
const usePdeathsig = process.platform === "linux" && existsSync(SETPRIV);

/** SIGKILLs any plugin still running when the host process exits. */
function installSweep(): void {
  if (sweepInstalled) return;
  sweepInstalled = true;
  process.on("exit", () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
}

/**
 * Spawns a child that cannot outlive this process: killed by the kernel if
 * we die (PR_SET_PDEATHSIG through setpriv), and swept on a normal exit.
 * `detached` puts it in its own process group, so a terminal's Ctrl-C
 * reaches only us and we stop children in our own order.
 */
export function spawnGuarded(
  command: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string | undefined; detached?: boolean },
): ChildProcess {
  installSweep();
  const [file, argv] = usePdeathsig ? [SETPRIV, ["--pdeathsig", "KILL", "--", command, ...args]] : [command, [...args]];
  const child = spawn(file, argv, {
    env: opts.env,
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.detached ?? false,
  });
  live.add(child);
  child.once("close", () => live.delete(child));
  return child;
}

/** Starts `cmd` with `env` and waits for its first stdout line. */
export function startProcess(
  cmd: PluginCommand,
  env: NodeJS.ProcessEnv,
  opts: { timeoutMs: number; name: string; log: PinoLogger },
): Promise<StartedProcess> {
  const child = spawnGuarded(cmd.command, cmd.args ?? [], { env, cwd: cmd.cwd });
  const tail: string[] = [];
  const pushTail = (l: string): void => {
    tail.push(l);
    if (tail.length > 20) tail.shift();
  };
  const stderrTail = (): string => tail.join("\n");
  forwardStderr(child.stderr!, opts.log, pushTail);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      resolve({ code, signal });
    });
  });

  return new Promise<StartedProcess>((resolve, reject) => {
    let settled = false;
    const fail = (err: PodplugError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(
        new PodplugError(
          "HANDSHAKE_TIMEOUT",
          `timeout while waiting for plugin ${opts.name} to start: no handshake line on its stdout within ${opts.timeoutMs} ms. ` +
            `Check that the command serves a plugin and that the magic cookie matches. stderr:\n${stderrTail()}`,
          { stderr: stderrTail() },
        ),
      );
    }, opts.timeoutMs);
    child.once("error", (err) => {
      fail(
        new PodplugError(
          "PLUGIN_EXITED",
          `could not start plugin ${opts.name} (${cmd.command}): ${err.message}. Check the command and its PATH.`,
          {},
          { cause: err },
        ),
      );
    });
    void exited.then(({ code, signal }) => {
      // Let the last stderr bytes arrive before quoting them.
      setImmediate(() =>
        fail(
          new PodplugError(
            "PLUGIN_EXITED",
            `plugin ${opts.name} exited before completing the handshake (${signal ? `signal ${signal}` : `exit status ${code}`}). stderr:\n${stderrTail()}`,
            { code, signal, stderr: stderrTail() },
          ),
        ),
      );
    });
    let first = true;
    const split = new LineSplitter((line) => {
      if (first) {
        first = false;
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ child, line, exited, stderrTail });
        return;
      }
      opts.log.debug({ stream: "stdout" }, line);
    });
    child.stdout!.on("data", (c: Buffer) => split.push(c));
    child.stdout!.on("end", () => split.flush());
  });
}
