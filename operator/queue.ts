/**
 * A work queue in client-go's shape, over typed keys (an object reference;
 * `id` gives the identity it is de-duplicated by): a key is queued at most once, never
 * handed to two workers at once (a key added while in progress is re-queued
 * when done), failed keys come back after a per-key exponential delay
 * (5 ms doubling to 30 s), and every step feeds the workqueue_* metrics.
 */
import { Backoff } from "../src/process/backoff.ts";

/** Hooks for the workqueue_* metrics; all optional. */
export interface QueueMetrics {
  depth?(n: number): void;
  add?(): void;
  retry?(): void;
  queueLatency?(seconds: number): void;
  workDuration?(seconds: number): void;
}

/** The rate-limited, de-duplicating queue of reconcile keys of type `K`. */
export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Map<string, K>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly metrics: QueueMetrics;
  private readonly id: (key: K) => string;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private shuttingDown = false;

  constructor(metrics: QueueMetrics = {}, baseDelayMs = 5, maxDelayMs = 30_000, id: (key: K) => string = String) {
    this.metrics = metrics;
    this.id = id;
    metrics.depth?.(0);
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
  add(key: K): void {
    const id = this.id(key);
    if (this.shuttingDown || this.dirty.has(id)) return;
    this.metrics.add?.();
    this.dirty.set(id, key);
    this.addedAt.set(id, Date.now());
    if (this.processing.has(id)) return;
    this.push(key);
  }

  private push(key: K): void {
    const w = this.waiters.shift();
    if (w) {
      this.take(key);
      w(key);
      return;
    }
    this.queue.push(key);
    this.metrics.depth?.(this.queue.length);
  }

  private take(key: K): void {
    const id = this.id(key);
    this.dirty.delete(id);
    this.processing.set(id, Date.now());
    const added = this.addedAt.get(id);
    if (added !== undefined) this.metrics.queueLatency?.((Date.now() - added) / 1000);
    this.addedAt.delete(id);
  }

  /**
   * Queues `key` after `ms`, unless it is already due to come back then or
   * sooner: adds within that time coalesce into one (a Plugin's status after
   * a burst of workload changes is written once).
   */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const id = this.id(key);
    if (this.timers.has(id)) return;
    const t = setTimeout(() => {
      this.timers.delete(id);
      this.add(key);
    }, ms);
    this.timers.set(id, t);
  }

  /** Queues `key` after its per-key backoff, which grows with each call until forget(). */
  addRateLimited(key: K): void {
    const id = this.id(key);
    let b = this.backoffs.get(id);
    // Per key, reset only by forget() (client-go's ItemExponentialFailureRateLimiter).
    if (!b)
      this.backoffs.set(id, (b = new Backoff({ initialMs: this.baseMs, maxMs: this.maxMs, resetAfterMs: Infinity })));
    this.metrics.retry?.();
    this.addAfter(key, b.next().delayMs);
  }

  /** True while `key` waits or is being worked on. */
  pending(key: K): boolean {
    const id = this.id(key);
    return this.dirty.has(id) || this.processing.has(id);
  }

  /** Clears `key`'s backoff after a success. */
  forget(key: K): void {
    this.backoffs.delete(this.id(key));
  }

  /** How often `key` failed in a row. */
  failures(key: K): number {
    return this.backoffs.get(this.id(key))?.failures ?? 0;
  }

  /** The next key, or undefined once shut down and drained. */
  get(): Promise<K | undefined> {
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
  done(key: K): void {
    const id = this.id(key);
    const started = this.processing.get(id);
    if (started !== undefined) this.metrics.workDuration?.((Date.now() - started) / 1000);
    this.processing.delete(id);
    const again = this.dirty.get(id);
    if (again !== undefined && !this.shuttingDown) this.push(again);
  }

  /** Stops accepting keys; waiting get() calls resolve undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
