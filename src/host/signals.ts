/**
 * Ending a host process on SIGTERM and SIGINT. A Node process that is PID 1
 * in its container (the usual case in a pod) is not killed by SIGTERM: the
 * kernel drops signals PID 1 has no handler for, so without one the kubelet
 * waits out the whole grace period and SIGKILLs it. This installs the
 * handler, runs the host's clean-up (kill its clients) and exits.
 */
import { constants } from "node:os";
import type { Logger as PinoLogger } from "pino";

/** Options of {@link exitOnSignals}. */
export interface ExitOnSignalsOptions {
  /** How long `cleanup` may take before the process exits anyway, with status 1 (default 1000 ms). */
  graceMs?: number;
  /** The signals to act on (default SIGTERM and SIGINT). */
  signals?: readonly NodeJS.Signals[];
  /** Logs the signal and a clean-up that failed or took too long. */
  logger?: PinoLogger;
}

/**
 * Makes SIGTERM and SIGINT end the process: runs `cleanup` once (for example
 * `() => client.kill()`, which also stops a client still waiting to attach),
 * then exits 0; exits 1 if `cleanup` throws or outlasts `graceMs`. A second
 * signal exits at once (status 128 + signal number). Call it first thing,
 * before awaiting anything. Returns a function that removes the handlers.
 */
export function exitOnSignals(cleanup: () => void | Promise<void>, options: ExitOnSignalsOptions = {}): () => void {
  const graceMs = options.graceMs ?? 1000;
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(128 + constants.signals[signal]);
    stopping = true;
    options.logger?.info({ signal }, "stopping on signal");
    const timer = setTimeout(() => {
      options.logger?.warn({ signal, graceMs }, "clean-up outlasted its grace period; exiting");
      process.exit(1);
    }, graceMs);
    Promise.resolve()
      .then(cleanup)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          clearTimeout(timer);
          options.logger?.error({ err, signal }, "clean-up failed; exiting");
          process.exit(1);
        },
      );
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}
