/**
 * Clean-up that runs on every exit of this process Node lets us observe:
 * `process.exit()`, the end of the event loop, an uncaught exception or
 * unhandled rejection (all emit "exit"), and SIGTERM, SIGINT and SIGHUP when
 * the application has no handler of its own (those would otherwise kill the
 * process without "exit"). SIGKILL cannot be observed: what it leaves, the
 * next start sweeps (src/host/socket-dir.ts) and PR_SET_PDEATHSIG kills
 * (src/process/spawn.ts).
 */

/** Signals whose default action ends the process without "exit". */
export const EXIT_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
type ExitSignal = (typeof EXIT_SIGNALS)[number];

const SIGNAL_NUMBERS: Record<ExitSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

const hooks = new Set<() => void>();
let installed = false;

/** Runs every registered hook once, in registration order; a failing hook does not stop the others. */
export function runExitHooks(): void {
  for (const h of [...hooks]) {
    hooks.delete(h);
    try {
      h();
    } catch {
      // Exiting: nothing left to report to, and the other hooks must still run.
    }
  }
}

function onSignal(signal: ExitSignal): void {
  // The application's own handler decides what the signal means; when it exits, "exit" cleans up.
  if (process.listenerCount(signal) > 1) return;
  runExitHooks();
  process.removeListener(signal, handlers[signal]);
  // Die of the signal as if we had never listened: the parent sees the same status.
  process.kill(process.pid, signal);
  // PID 1 (a container's init) ignores a signal it has no handler for: exit as the shell reports it.
  setImmediate(() => process.exit(128 + SIGNAL_NUMBERS[signal]));
}

const handlers: Record<ExitSignal, () => void> = {
  SIGTERM: () => onSignal("SIGTERM"),
  SIGINT: () => onSignal("SIGINT"),
  SIGHUP: () => onSignal("SIGHUP"),
};

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runExitHooks);
  for (const s of EXIT_SIGNALS) process.on(s, handlers[s]);
}

/**
 * Registers a synchronous `hook` to run when this process exits, however it
 * exits (see the module comment). Returns a function that unregisters it;
 * call that when the resource is released normally.
 */
export function onExit(hook: () => void): () => void {
  install();
  hooks.add(hook);
  return () => void hooks.delete(hook);
}
