/**
 * A real Prometheus scrapes what a user runs: `podplug run` with the demo
 * (runtime and host metrics) and the operator against the test apiserver,
 * with the shipped rules loaded. Every assertion goes through Prometheus's
 * HTTP API, not the targets: the documented series exist with their labels,
 * move when a plugin is killed, the rules evaluate, and every dashboard
 * expression returns series.
 */
import assert from "node:assert/strict";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../helpers.ts";
import { dashboardExpressions } from "./dashboard.ts";
import type { Prometheus, Sample } from "./prometheus.ts";
import { type Scenario, startScenario } from "./scenario.ts";

const NS = "observe";

const value = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

describe("observability: a real Prometheus scrapes podplug", function () {
  this.timeout(120_000);
  const getCluster = useSharedCluster();
  let scenario: Scenario | undefined;
  let prom: Prometheus | undefined;

  before(async function () {
    this.timeout(240_000);
    scenario = await startScenario(await getCluster(), NS);
    prom = scenario.prom;
  });

  after(async function () {
    this.timeout(60_000);
    await scenario?.stop();
  });

  it("every target is up, as Prometheus reports it", async () => {
    const targets = await waitFor(
      async () => {
        const ts = await prom!.targets();
        return ts.length === 3 && ts.every((x) => x.health === "up") ? ts : undefined;
      },
      30_000,
      "three healthy targets",
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await prom!.targets())}\n${prom!.tail()}`);
    });
    assert.deepEqual(targets.map((x) => x.job).sort(), ["demo-host", "podplug-local", "podplug-operator"]);
    const up = await prom!.query("up");
    assert.deepEqual(up.map((s) => [s.metric.job, s.value]).sort(), [
      ["demo-host", 1],
      ["podplug-local", 1],
      ["podplug-operator", 1],
    ]);
  });

  it("the host's and the runtime's series exist with their documented names and labels", async () => {
    const up = await prom!.waitFor('podplug_plugin_up{job="demo-host"}', (s) => s.length === 2 && value(s) === 2);
    assert.deepEqual(up.map((s) => s.metric.plugin).sort(), ["counter", "kv"]);
    const calls = await prom!.waitFor(
      'podplug_plugin_calls_total{job="demo-host",code="OK"}',
      (s) => new Set(s.map((x) => x.metric.plugin)).size === 2,
    );
    for (const s of calls) assert.match(s.metric.method!, /^\/[\w.]+\/\w+$/, "method is the gRPC full method name");
    await prom!.waitFor('podplug_plugin_call_duration_seconds_count{job="demo-host",plugin="kv"}', (s) => value(s) > 0);
    await prom!.waitFor('podplug_plugin_state{job="demo-host",plugin="kv",state="ready"}', (s) => value(s) === 1);
    const containers = await prom!.waitFor('podplug_local_container_up{job="podplug-local"}', (s) => s.length >= 3);
    assert.ok(
      containers.every((s) => s.metric.pod && s.metric.container),
      "runtime series carry pod and container labels",
    );
    await prom!.waitFor(
      'controller_runtime_reconcile_total{job="podplug-operator",controller="workload"}',
      (s) => value(s) > 0,
    );
  });

  it("a killed plugin shows in Prometheus: the runtime's and the host's restart counters move, and calls go on", async () => {
    const pid = scenario!.pid("podplug-kv");
    assert.ok(Number.isInteger(pid), `kv's pid in the log:\n${scenario!.output().slice(-2000)}`);
    const before = value(await prom!.query('podplug_plugin_calls_total{job="demo-host",plugin="kv",code="OK"}'));
    process.kill(pid, "SIGKILL");
    await prom!.waitFor(
      'podplug_local_container_restarts_total{job="podplug-local",container="podplug-kv"}',
      (s) => value(s) >= 1,
    );
    await prom!.waitFor('podplug_plugin_restarts_total{job="demo-host",plugin="kv"}', (s) => value(s) >= 1);
    await prom!.waitFor('podplug_plugin_calls_total{job="demo-host",plugin="kv",code="OK"}', (s) => value(s) > before);
    // The other plugin never restarted.
    assert.equal(value(await prom!.query('podplug_plugin_restarts_total{job="demo-host",plugin="counter"}')), 0);
  });

  it("the shipped rules load, evaluate without error, and record per-plugin RED series", async () => {
    const rules = await prom!.waitFor("vector(1)", () => true).then(() => prom!.rules());
    assert.ok(rules.length >= 10, `rules loaded: ${rules.map((r) => r.name).join(", ")}`);
    await waitFor(
      async () => {
        const rs = await prom!.rules();
        return rs.every((r) => r.health === "ok") ? rs : undefined;
      },
      30_000,
      "every rule evaluated ok",
    ).catch(async () => {
      throw new Error(`unhealthy rules: ${JSON.stringify((await prom!.rules()).filter((r) => r.health !== "ok"))}`);
    });
    const rate = await prom!.waitFor('podplug:plugin_calls:rate5m{plugin="kv",code="OK"}', (s) => value(s) > 0);
    assert.ok(rate.every((s) => s.metric.method));
    const ratio = await prom!.waitFor("podplug:plugin_call_errors:ratio_rate5m", (s) => s.length === 2);
    assert.ok(ratio.every((s) => s.value >= 0 && s.value <= 1));
    await prom!.waitFor('podplug:plugin_call_duration_seconds:p99_5m{plugin="counter"}', (s) => s.length === 1);
    // A live, leading operator: its down and no-leader alerts are not even pending.
    assert.deepEqual(await prom!.query('ALERTS{alertname=~"PodplugOperatorDown|PodplugOperatorNoLeader"}'), []);
  });

  it("every expression of the shipped dashboard returns series", async () => {
    const exprs = dashboardExpressions();
    assert.ok(exprs.length >= 12);
    const empty: string[] = [];
    await waitFor(
      async () => {
        empty.length = 0;
        for (const e of exprs) if ((await prom!.query(e.expr)).length === 0) empty.push(`${e.panel}: ${e.expr}`);
        return empty.length === 0;
      },
      60_000,
      "every dashboard expression with series",
    ).catch(() => {
      throw new Error(`dashboard expressions without series:\n${empty.join("\n")}`);
    });
  });
});
