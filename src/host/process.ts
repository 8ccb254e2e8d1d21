/**
 * Starting a plugin as a child process and reading its handshake line, with a
 * coded error for every way that can fail. Children die with the host
 * (src/process/spawn.ts: PR_SET_PDEATHSIG and a sweep on exit).
 */
import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { Logger as PinoLogger } from "pino";
import { PodplugError } from "../errors.ts";
import { describeExit, exitOf, hasExited, type ProcessExit } from "../process/exit.ts";
import { readLines } from "../process/lines.ts";
import { logOutputLine } from "../process/output.ts";
import { spawnGuarded } from "../process/spawn.ts";

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
  exited: Promise<ProcessExit>;
  /** The last lines of stderr, for error messages. */
  stderrTail(): string;
}

/** Reads a plugin's stderr pipe to its end. Plain lines log at debug, as go-plugin does. */
function forwardStderr(stderr: Readable, log: PinoLogger, tail: (line: string) => void): void {
  const state = { inPanic: false };
  readLines(stderr, (line) => {
    tail(line);
    logOutputLine(log, line, "stderr", state, "debug");
  });
}

/** Starts `cmd` with `env` and waits for its first stdout line. */
export function startProcess(
  cmd: PluginCommand,
  env: NodeJS.ProcessEnv,
  opts: { timeoutMs: number; name: string; log: PinoLogger; rawStderr?: Writable },
): Promise<StartedProcess> {
  const child = spawnGuarded(cmd.command, cmd.args ?? [], { env, cwd: cmd.cwd });
  const tail: string[] = [];
  const pushTail = (l: string): void => {
    tail.push(l);
    if (tail.length > 20) tail.shift();
  };
  const stderrTail = (): string => tail.join("\n");
  // go-plugin's ClientConfig.Stderr: the pipe's bytes as they come, besides the parsed log.
  const raw = opts.rawStderr;
  if (raw) child.stderr!.on("data", (d: Buffer) => raw.write(d));
  forwardStderr(child.stderr!, opts.log, pushTail);
  const exited = exitOf(child);

  return new Promise<StartedProcess>((resolve, reject) => {
    let settled = false;
    const fail = (err: PodplugError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!hasExited(child)) child.kill("SIGKILL");
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(
        new PodplugError(
          "HANDSHAKE_TIMEOUT",
          `timeout while waiting for plugin ${opts.name} to start: no handshake line on its stdout within ${opts.timeoutMs} ms. ` +
            `Check that the command serves a plugin and that the magic cookie matches. stderr:\n${stderrTail()}`,
          { stderr: stderrTail(), pid: child.pid },
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
    void exited.then((exit) => {
      // Let the last stderr bytes arrive before quoting them.
      setImmediate(() =>
        fail(
          new PodplugError(
            "PLUGIN_EXITED",
            `plugin ${opts.name} exited before completing the handshake (${describeExit(exit)}). stderr:\n${stderrTail()}`,
            { ...exit, stderr: stderrTail(), pid: child.pid },
          ),
        ),
      );
    });
    let first = true;
    readLines(child.stdout!, (line) => {
      if (first) {
        first = false;
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ child, line, exited, stderrTail });
        return;
      }
      opts.log.debug({ stream: "stdout", source: "stdout" }, line);
    });
  });
}
