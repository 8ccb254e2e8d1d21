/** The one back-off: host restarts, local container restarts and the operator's retries. */
import assert from "node:assert/strict";
import { Backoff } from "../../src/process/backoff.ts";

describe("Backoff", () => {
  it("doubles from initialMs up to maxMs and names the third failure in a row a crash loop", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 400 });
    const steps = [0, 0, 0, 0, 0].map(() => b.next(0));
    assert.deepEqual(
      steps.map((s) => s.delayMs),
      [100, 200, 400, 400, 400],
    );
    assert.deepEqual(
      steps.map((s) => s.crashLoop),
      [false, false, true, true, true],
    );
    assert.equal(b.failures, 5);
  });

  it("firstMs replaces only the first delay after a quiet period: 0 restarts at once, a second failure in a row waits", () => {
    const b = new Backoff({ firstMs: 0, initialMs: 100, maxMs: 400, resetAfterMs: 30_000 });
    assert.deepEqual(
      [0, 0, 0, 0].map(() => b.next(0).delayMs),
      [0, 200, 400, 400],
    );
    assert.deepEqual(
      b.next(30_000),
      { delayMs: 0, failures: 1, crashLoop: false },
      "after a quiet period: at once again",
    );
    assert.equal(new Backoff({ firstMs: 5000, maxMs: 400 }).next(0).delayMs, 400, "capped at maxMs like any delay");
  });

  it("starts again when the run before the failure lasted resetAfterMs (the kubelet's rule)", () => {
    const b = new Backoff({ initialMs: 100, resetAfterMs: 30_000 });
    b.next(0);
    b.next(0);
    assert.equal(b.next(29_999).delayMs, 400, "just short of the stable period: still growing");
    assert.deepEqual(b.next(30_000), { delayMs: 100, failures: 1, crashLoop: false });
  });

  it("without an uptime, the quiet period is the time since the previous failure (kube-runtime's rule)", () => {
    let now = 1_000_000;
    const b = new Backoff({ initialMs: 800, maxMs: 30_000, resetAfterMs: 120_000 }, { now: () => now });
    assert.equal(b.next().delayMs, 800, "the first failure ever starts at initialMs");
    now += 1000;
    assert.equal(b.next().delayMs, 1600);
    now += 119_999;
    assert.equal(b.next().delayMs, 3200);
    now += 120_000;
    assert.equal(b.next().delayMs, 800, "a quiet spell of resetAfterMs resets");
  });

  it("jitter spreads each delay over [1 − j, 1 + j) of the capped delay", () => {
    const at = (r: number) => new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5 }, { random: () => r });
    assert.equal(at(0).next(0).delayMs, 500);
    assert.equal(at(0.5).next(0).delayMs, 1000);
    assert.equal(at(0.999).next(0).delayMs, 1499);
    assert.equal(at(0.9999999).next(0).delayMs, 1499, "never the excluded upper end");
    const real = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 });
    for (let i = 0; i < 50; i++) {
      const d = real.next(0).delayMs;
      assert.ok(d >= 800 && d < 1200, String(d));
    }
  });

  it("resetAfterMs Infinity never resets; reset() does (the operator queue's per-key rule)", () => {
    const b = new Backoff({ initialMs: 5, maxMs: 30_000, resetAfterMs: Infinity });
    for (let i = 0; i < 3; i++) b.next();
    assert.equal(b.next(1e12).delayMs, 40, "a long quiet spell does not reset");
    b.reset();
    assert.equal(b.failures, 0);
    assert.equal(b.next().delayMs, 5);
  });

  it("refuses a jitter outside [0, 1]", () => {
    assert.throws(() => new Backoff({ jitter: 1.5 }), RangeError);
    assert.throws(() => new Backoff({ jitter: -0.1 }), RangeError);
    assert.throws(() => new Backoff({ jitter: Number.NaN }), RangeError);
  });
});
