/**
 * The live view's per-plugin call figures (src/local/host-red.ts): parsed from
 * a real host registry's exposition text, computed as Prometheus's rate() and
 * histogram_quantile() would, and robust to what a broken or hostile
 * /metrics serves.
 */
import assert from "node:assert/strict";
import { Counter, Histogram, Registry } from "prom-client";
import { parseRed, quantile, redBetween } from "../../src/local/host-red.ts";

describe("live view: per-plugin rate, errors and p99 from a host's /metrics", () => {
  it("reads prom-client's exposition of the host SDK's RED metrics, summed over services and methods", async () => {
    const reg = new Registry();
    const calls = new Counter({
      name: "podplug_host_calls_total",
      help: "h",
      labelNames: ["plugin", "service", "method", "code"],
      registers: [reg],
    });
    const dur = new Histogram({
      name: "podplug_host_call_duration_seconds",
      help: "h",
      labelNames: ["plugin", "service", "method"],
      buckets: [0.001, 0.01, 0.1],
      registers: [reg],
    });
    calls.inc({ plugin: "kv", service: "proto.KV", method: "Get", code: "OK" }, 7);
    calls.inc({ plugin: "kv", service: "proto.KV", method: "Put", code: "OK" }, 2);
    calls.inc({ plugin: "kv", service: "proto.KV", method: "Get", code: "UNAVAILABLE" }, 1);
    dur.observe({ plugin: "kv", service: "proto.KV", method: "Get" }, 0.005);
    dur.observe({ plugin: "kv", service: "proto.KV", method: "Put" }, 0.05);
    const s = parseRed(await reg.metrics(), 1000);
    assert.deepEqual(s.calls.get("kv"), { total: 10, failed: 1 });
    assert.deepEqual(
      [...s.buckets.get("kv")!].sort((a, b) => a[0] - b[0]),
      [
        [0.001, 0],
        [0.01, 1],
        [0.1, 2],
        [Number.POSITIVE_INFINITY, 2],
      ],
    );
  });

  it("rate and errors per second between two scrapes; a counter that went down restarted (the host restarted)", () => {
    const text = (ok: number, bad: number): string =>
      `podplug_host_calls_total{plugin="kv",service="proto.KV",method="Get",code="OK"} ${ok}\n` +
      `podplug_host_calls_total{plugin="kv",service="proto.KV",method="Get",code="UNAVAILABLE"} ${bad}\n`;
    const [r] = redBetween(parseRed(text(10, 0), 0), parseRed(text(30, 5), 5000));
    assert.deepEqual(r, { plugin: "kv", rate: 5, errors: 1, p99: undefined });
    const [reset] = redBetween(parseRed(text(100, 9), 0), parseRed(text(4, 1), 1000));
    assert.equal(reset!.rate, 5);
    assert.equal(reset!.errors, 1);
    assert.deepEqual(redBetween(parseRed(text(1, 0), 1000), parseRed(text(2, 0), 1000)), [], "no time passed");
  });

  it("p99 interpolates within the bucket as histogram_quantile does", () => {
    const b: [number, number][] = [
      [0.1, 50],
      [0.2, 100],
      [Number.POSITIVE_INFINITY, 100],
    ];
    assert.equal(quantile(0.5, b), 0.1);
    assert.ok(Math.abs(quantile(0.99, b)! - 0.198) < 1e-12);
    // Past the highest finite bound: that bound. No calls, or no +Inf bucket: no figure.
    assert.equal(
      quantile(0.99, [
        [0.1, 1],
        [Number.POSITIVE_INFINITY, 10],
      ]),
      0.1,
    );
    assert.equal(quantile(0.99, [[Number.POSITIVE_INFINITY, 0]]), undefined);
    assert.equal(quantile(0.99, [[0.1, 3]]), undefined);
  });

  it("skips what does not parse, and every family it does not read", () => {
    const hostile = [
      "# HELP podplug_host_calls_total x",
      'podplug_host_calls_total{plugin="kv",code="OK"} not-a-number',
      'podplug_host_calls_total{plugin="kv",code="OK"} -3',
      'podplug_host_calls_total{plugin="kv",code="OK"} NaN',
      'podplug_host_calls_total{code="OK"} 5',
      'podplug_host_calls_total{plugin="kv"} 5',
      'podplug_host_calls_total{plugin="kv",code="OK" 5',
      'podplug_host_call_duration_seconds_bucket{plugin="kv",le="abc"} 5',
      'podplug_host_call_duration_seconds_bucket{plugin="kv"} 5',
      'other_total{plugin="kv",code="OK"} 5',
      `podplug_host_calls_total{plugin="${"x".repeat(100_000)}`,
      "\u0000\u0001{}}}",
      'podplug_host_calls_total{plugin="we\\"ird",code="INTERNAL"} 2 1700000000000',
    ].join("\n");
    const s = parseRed(hostile, 0);
    assert.deepEqual([...s.calls], [['we"ird', { total: 2, failed: 2 }]]);
    assert.equal(s.buckets.size, 0);
    assert.equal(parseRed("", 0).calls.size, 0);
  });
});
