/**
 * client-go's client-side rate limit (flowcontrol.NewTokenBucketRateLimiter):
 * a bucket of `burst` tokens refilled at `qps` per second; each request takes
 * one, waiting for it if the bucket is empty. Reservations are made in call
 * order (golang.org/x/time/rate's Reserve), so waiters go in FIFO order and
 * none starves. It keeps a busy operator from flooding a shared apiserver;
 * APF on the server side is the other half.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** A token bucket; `qps` 0 means no limit. */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  /** @param now milliseconds, monotonic (tests pass their own clock). */
  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    if (!(qps >= 0) || !Number.isFinite(qps)) throw new RangeError(`qps ${qps} must be a finite number ≥ 0`);
    if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`burst ${burst} must be an integer ≥ 1`);
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
    this.now = now;
    this.last = now();
  }

  /** Takes a token now and returns how many milliseconds the caller must wait before using it (0: at once). */
  reserve(): number {
    if (this.qps === 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.qps) / 1000);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  /** Waits for a token; resolves with the milliseconds waited (rest_client_rate_limiter_duration_seconds). */
  async take(signal?: AbortSignal): Promise<number> {
    const ms = this.reserve();
    if (ms > 0) await sleep(ms, undefined, signal ? { signal } : undefined);
    return ms;
  }
}
