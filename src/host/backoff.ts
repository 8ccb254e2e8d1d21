/**
 * Restart back-off, shared by the host SDK's plugin restarts and the local
 * runtime's container restarts: exponential with a cap, reset once the
 * process has stayed up for a stable period (the kubelet's rule, with
 * shorter defaults), and a crash loop named as such.
 */

/** Back-off settings. */
export interface BackoffOptions {
  /** First delay (default 100 ms). */
  initialMs?: number;
  /** Cap (default 10 s). */
  maxMs?: number;
  /** Growth per consecutive failure (default 2). */
  factor?: number;
  /** Uptime after which the count resets (default 30 s). */
  resetAfterMs?: number;
  /** Consecutive short-lived runs that make a crash loop (default 3). */
  crashLoopAfter?: number;
}

/** What to do after a process ended. */
export interface BackoffStep {
  delayMs: number;
  /** Consecutive failures so far, this one included. */
  failures: number;
  crashLoop: boolean;
}

/** Exponential restart back-off with reset after a stable run. */
export class Backoff {
  private failures = 0;
  private readonly o: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.o = { initialMs: 100, maxMs: 10_000, factor: 2, resetAfterMs: 30_000, crashLoopAfter: 3, ...options };
  }

  /** The delay before the next start, given how long the last run lasted. */
  next(uptimeMs: number): BackoffStep {
    if (uptimeMs >= this.o.resetAfterMs) this.failures = 0;
    this.failures++;
    const delayMs = Math.min(this.o.maxMs, this.o.initialMs * this.o.factor ** (this.failures - 1));
    return { delayMs, failures: this.failures, crashLoop: this.failures >= this.o.crashLoopAfter };
  }

  /** Forgets past failures. */
  reset(): void {
    this.failures = 0;
  }
}
