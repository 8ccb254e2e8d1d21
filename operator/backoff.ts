/**
 * Reconnect backoff as kube-runtime's watcher uses it: 800 ms doubling to
 * 30 s with jitter, reset after 120 s without failure.
 */
export class Backoff {
  private readonly min: number;
  private readonly max: number;
  private readonly resetAfter: number;
  private next: number;
  private lastFailure = 0;

  constructor(minMs = 800, maxMs = 30_000, resetAfterMs = 120_000) {
    this.min = minMs;
    this.max = maxMs;
    this.resetAfter = resetAfterMs;
    this.next = minMs;
  }

  /** The delay before the next attempt after a failure. */
  nextDelay(now = Date.now()): number {
    if (now - this.lastFailure > this.resetAfter) this.next = this.min;
    this.lastFailure = now;
    const d = this.next;
    this.next = Math.min(this.max, this.next * 2);
    return Math.round(d * (0.5 + Math.random()));
  }
}
