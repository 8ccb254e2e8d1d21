/**
 * A work queue in client-go's shape: a key is queued at most once, never
 * handed to two workers at once (a key added while in progress is re-queued
 * when done), failed keys come back after a per-key exponential delay
 * (5 ms doubling to 30 s), and every step feeds the workqueue_* metrics.
 */

/** Hooks for the workqueue_* metrics; all optional. */
export interface QueueMetrics {
  depth?(n: number): void;
  add?(): void;
  retry?(): void;
  queueLatency?(seconds: number): void;
  workDuration?(seconds: number): void;
}

/** The rate-limited, de-duplicating queue of reconcile keys. */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly failureCounts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly metrics: QueueMetrics;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private shuttingDown = false;

  constructor(metrics: QueueMetrics = {}, baseDelayMs = 5, maxDelayMs = 30_000) {
    this.metrics = metrics;
    this.baseMs = baseDelayMs;
    this.maxMs = maxDelayMs;
  }

  /** Number of keys waiting. */
  get length(): number {
    return this.queue.length;
  }

  /** Keys being worked on and how long the longest has run, in seconds. */
  inFlight(now = Date.now()): { count: number; longestSeconds: number; totalSeconds: number } {
    let longest = 0;
    let total = 0;
    for (const t of this.processing.values()) {
      const s = (now - t) / 1000;
      total += s;
      if (s > longest) longest = s;
    }
    return { count: this.processing.size, longestSeconds: longest, totalSeconds: total };
  }

  /** Queues `key` unless it is already waiting. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.add?.();
    this.dirty.add(key);
    this.addedAt.set(key, Date.now());
    if (this.processing.has(key)) return;
    this.push(key);
  }

  private push(key: string): void {
    const w = this.waiters.shift();
    if (w) {
      this.take(key);
      w(key);
      return;
    }
    this.queue.push(key);
    this.metrics.depth?.(this.queue.length);
  }

  private take(key: string): void {
    this.dirty.delete(key);
    this.processing.set(key, Date.now());
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics.queueLatency?.((Date.now() - added) / 1000);
    this.addedAt.delete(key);
  }

  /** Queues `key` after `ms`. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  /** Queues `key` after its per-key backoff, which grows with each call until forget(). */
  addRateLimited(key: string): void {
    const n = this.failureCounts.get(key) ?? 0;
    this.failureCounts.set(key, n + 1);
    this.metrics.retry?.();
    this.addAfter(key, Math.min(this.maxMs, this.baseMs * 2 ** n));
  }

  /** Clears `key`'s backoff after a success. */
  forget(key: string): void {
    this.failureCounts.delete(key);
  }

  /** How often `key` failed in a row. */
  failures(key: string): number {
    return this.failureCounts.get(key) ?? 0;
  }

  /** The next key, or undefined once shut down and drained. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.metrics.depth?.(this.queue.length);
      this.take(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` finished; re-queues it if it was added meanwhile. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started !== undefined) this.metrics.workDuration?.((Date.now() - started) / 1000);
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
  }

  /** Stops accepting keys; waiting get() calls resolve undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
