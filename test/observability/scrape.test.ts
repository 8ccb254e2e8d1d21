/**
 * A real Prometheus scrapes what a user runs: `podplug run` with the demo
 * (runtime and host metrics) and the operator against the test apiserver,
 * with the shipped rules loaded. Every assertion goes through Prometheus's
 * HTTP API, not the targets: the documented series exist with their labels,
 * move when a plugin is killed, the rules evaluate, and every dashboard
 * expression returns series.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { NODE, ROOT, tempDir, waitFor } from "../helpers.ts";
import {
  createNamespace,
  hostDeployment,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  startOperator,
  yaml,
} from "../operator/helpers.ts";
import { Prometheus, type Sample } from "./prometheus.ts";

const RULES = join(ROOT, "charts/podplug/files/prometheus-rules.yaml");
const DASHBOARD = join(ROOT, "charts/podplug/files/dashboard.json");
const NS = "observe";

/** The PromQL of every panel target in the dashboard, with Grafana's variables as a user's Grafana fills them. */
export function dashboardExpressions(file = DASHBOARD): { panel: string; expr: string }[] {
  const d = JSON.parse(readFileSync(file, "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$__range", "5m")
        .replaceAll('=~"$namespace"', '=~".*"'),
    })),
  );
}

const hostUrl = (out: string): string | undefined =>
  /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)","msg":"metrics"/.exec(out)?.[1];
const target = (url: string): string => new URL(url).host;
const value = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

describe("observability: a real Prometheus scrapes podplug", function () {
  this.timeout(120_000);
  const getCluster = useSharedCluster();
  const t = tempDir("pp-observe-");
  let run: ChildProcess | undefined;
  let out = "";
  let op: OperatorHandle | undefined;
  let prom: Prometheus | undefined;
  let cluster: TestCluster | undefined;

  before(async function () {
    this.timeout(240_000);
    // The demo as shipped, its host's metrics on any free port.
    const demo = join(t.dir, "demo");
    mkdirSync(demo);
    for (const f of ["plugins.yaml", "host.yaml"])
      writeFileSync(
        join(demo, f),
        readFileSync(join(ROOT, "examples/demo", f), "utf8").replace('value: "9465"', 'value: "0"'),
      );
    run = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "run", "-f", demo, "--no-view", "--metrics-port", "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    run.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const runtime = await waitFor(() => /"metricsUrl":"([^"]+)"/.exec(out)?.[1], 30_000, "podplug run's metrics URL");
    const host = await waitFor(() => hostUrl(out), 30_000, "the demo host's metrics URL");

    // The operator, reconciling one Plugin into one workload, as a cluster user runs it.
    cluster = await getCluster();
    await installCrd(cluster);
    await createNamespace(cluster, NS);
    op = await startOperator(
      cluster,
      ["--leader-elect=false", `--watch-namespaces=${NS}`],
      cluster.kubeconfig,
      "operator-observe",
    );
    await cluster.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("kv"), hostDeployment("web", { "podplug.io/host": "kv" })),
    );

    prom = await Prometheus.start(
      [
        { job: "podplug-local", targets: [target(runtime)] },
        { job: "demo-host", targets: [target(host)] },
        { job: "podplug-operator", targets: [target(op.metricsUrl)] },
      ],
      [RULES],
    );
  });

  after(async function () {
    this.timeout(60_000);
    await prom?.stop();
    if (cluster) await cluster.kubectl(["delete", "namespace", NS, "--wait=false"]);
    await op?.stop();
    if (run && run.exitCode === null) {
      run.kill("SIGINT");
      await new Promise((r) => run!.once("close", r));
    }
    t.remove();
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
    const pid = Number(/"container":"podplug-kv","plugin":"kv","pid":(\d+)/.exec(out)?.[1] ?? NaN);
    assert.ok(Number.isInteger(pid), `kv's pid in the log:\n${out.slice(-2000)}`);
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
