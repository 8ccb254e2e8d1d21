/**
 * The host's RED metrics as Prometheus reads them: names and labels of
 * docs/metrics.md, one series per plugin/service/method/code, cumulative
 * buckets with +Inf, sum and count; reset; codes outside gRPC's counted as
 * UNKNOWN; and real calls through a host Client, failures included.
 */
import { strict as assert } from "node:assert";
import { pino } from "pino";
import { Registry } from "prom-client";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { CALL_DURATION_BUCKETS, CallMetrics } from "../../src/host/call-metrics.ts";
import { Client } from "../../src/host/index.ts";
import { hostMetrics } from "../../src/host/metrics.ts";
import { fixture, NODE } from "../helpers.ts";

const names = { calls: "t_calls_total", callsHelp: "c", duration: "t_duration_seconds", durationHelp: "d" };

function line(text: string, prefix: string): number | undefined {
  const l = text.split("\n").find((x) => x.startsWith(`${prefix} `));
  return l === undefined ? undefined : Number(l.slice(prefix.length + 1));
}

describe("host call metrics (RED)", () => {
  it("exposes counts by code and a cumulative histogram per plugin, service and method", async () => {
    const registry = new Registry();
    const m = new CallMetrics(registry, names);
    const get = m.series("kv", "/proto.KV/Get");
    assert.equal(m.series("kv", "/proto.KV/Get"), get, "one series object per method");
    get.record(0, 0.00007);
    get.record(0, 0.003);
    get.record(14, 20);
    get.record(99, 0.0001);
    m.series("other", "/pkg.Svc/Put").record(5, 0.5);
    const text = await registry.metrics();
    assert.match(text, /# TYPE t_calls_total counter/);
    assert.match(text, /# TYPE t_duration_seconds histogram/);
    const k = 'plugin="kv",service="proto.KV",method="Get"';
    assert.equal(line(text, `t_calls_total{${k},code="OK"}`), 2);
    assert.equal(line(text, `t_calls_total{${k},code="UNAVAILABLE"}`), 1);
    assert.equal(line(text, `t_calls_total{${k},code="UNKNOWN"}`), 1, "a code outside gRPC's counts as UNKNOWN");
    assert.equal(line(text, `t_calls_total{${k},code="NOT_FOUND"}`), undefined, "no series for codes never seen");
    assert.equal(line(text, 't_calls_total{plugin="other",service="pkg.Svc",method="Put",code="NOT_FOUND"}'), 1);
    assert.equal(line(text, `t_duration_seconds_bucket{${k},le="0.00005"}`), 0);
    assert.equal(line(text, `t_duration_seconds_bucket{${k},le="0.0001"}`), 2, "le is inclusive and cumulative");
    assert.equal(line(text, `t_duration_seconds_bucket{${k},le="0.005"}`), 3);
    assert.equal(line(text, `t_duration_seconds_bucket{${k},le="10"}`), 3);
    assert.equal(line(text, `t_duration_seconds_bucket{${k},le="+Inf"}`), 4);
    assert.equal(line(text, `t_duration_seconds_count{${k}}`), 4);
    assert.ok(Math.abs(line(text, `t_duration_seconds_sum{${k}}`)! - 20.00317) < 1e-9);
    const buckets = text.split("\n").filter((l) => l.startsWith(`t_duration_seconds_bucket{${k}`));
    assert.equal(buckets.length, CALL_DURATION_BUCKETS.length + 1);
    registry.resetMetrics();
    assert.equal(line(await registry.metrics(), `t_duration_seconds_count{${k}}`), undefined, "reset empties");
  });

  it("a host Client counts its calls, failures included, under podplug_host_calls_total", async function () {
    this.timeout(30_000);
    const registry = new Registry();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: NODE, args: [fixture("test-plugin.ts")] },
      name: "kvm",
      logger: pino({ level: "silent" }),
      metricsRegistry: registry,
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("a", Buffer.from("1"));
      for (let i = 0; i < 3; i++) await kv.get("a");
      await assert.rejects(kv.get("missing-key-fails"));
      const text = await registry.metrics();
      const get = 'plugin="kvm",service="proto.KV",method="Get"';
      assert.equal(line(text, `podplug_host_calls_total{${get},code="OK"}`), 3);
      assert.equal(line(text, 'podplug_host_calls_total{plugin="kvm",service="proto.KV",method="Put",code="OK"}'), 1);
      // The plugin's handler throws for a missing key: the kv example maps that to UNKNOWN.
      assert.equal(line(text, `podplug_host_calls_total{${get},code="UNKNOWN"}`), 1);
      assert.equal(line(text, `podplug_host_call_duration_seconds_count{${get}}`), 4);
      assert.equal(hostMetrics(registry), hostMetrics(registry), "one set of families per registry");
    } finally {
      await client.kill();
    }
  });
});
