/**
 * Benchmark: the operator at scale on the real test apiserver, beside a
 * baseline measured in the same run.
 *   node bench/operator.ts [N | NxP ...]    (default 100 300 1000 1000x1000)
 * For each N: N Deployments and N/5 Plugins, or P with NxP (each Deployment
 * selected by 1-3 Plugins, test/operator/helpers.ts scaleScenario) exist; the operator starts
 * and the clock runs from its first /healthz answer until every Deployment
 * carries its sidecars (lists, reconciles, patches; Node's start-up excluded).
 *  - baseline: the operator's own server-side apply bodies for the same
 *    workloads sent straight to the apiserver by one client at the same
 *    concurrency, in a namespace no operator watches (the bench watches it
 *    as it watches the operator's, so its own observing costs both alike),
 *    once before the converge and once after it in a namespace of its own
 *    (the apiserver's speed drifts through a run, by up to ±40 % between the
 *    two: their mean brackets the converge);
 *  - ratio: mean baseline time / operator time (1.0 = as fast as the raw patches);
 *  - RSS peak (VmHWM), operator CPU from its start until idle, requests other
 *    than GET it sent until idle (its rest_client_requests_total);
 *  - steady state: `kubectl apply` of a changed Plugin → every workload it
 *    selects patched (from kubectl's return), a new Deployment → patched;
 *  - /healthz latency polled every 50 ms throughout, /metrics every 250 ms in
 *    a loop of its own, each from a worker thread (so the bench's own watch
 *    handling on its main thread adds nothing to them) (a full render costs ≈2 ms of the operator's CPU; a
 *    scraper comes every 15-30 s);
 *  - writes until quiet and the Events posted per Plugin;
 *  - the client rate limiter's cost: the same converge in another namespace
 *    by an operator with the limiter off (--kube-api-qps=0), right after;
 *    limiter ratio = converge without / converge with (1.0 = it costs nothing),
 *    and the seconds the default run's requests waited for a token;
 *  - the load average of the machine (1 min) at the start and end of each converge;
 *  - a restart with nothing changed: requests other than GET the restarted operator sent until quiet, and
 *    objects whose resourceVersion moved;
 *  - first the issue's scale table (N, converge, ratio, RSS peak, CPU until quiet), then the goals of issue 18
 *    met or not per N, then every figure.
 * PODPLUG_OPERATOR_MAIN runs another build (e.g. the previous operator);
 * BENCH_OPERATOR_CONCURRENCY (default 4) sets --concurrency and the baseline's;
 * BENCH_OPERATOR_ARGS adds operator flags (e.g. "--kube-api-qps=0 --kube-api-burst=1");
 * BENCH_OPERATOR_NODE_OPTIONS is the operators' NODE_OPTIONS (default: the chart's nodeOptions, read from
 * charts/podplug/values.yaml, so the RSS is that of the operator as the chart runs it; "" for Node's defaults);
 * BENCH_PROFILE=1 writes a CPU profile of the largest N and prints its top frames.
 * Every wait is bounded (BENCH_OPERATOR_TIMEOUT_S, default 240 s per phase).
 * Prints a table; asserts nothing (timing belongs here, not in tests).
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { pino } from "pino";
import { parse as parseYaml } from "yaml";
import { APPLY_PATCH, FIELD_MANAGER, KubeClient } from "../operator/client.ts";
import { kubeconfigCredentials } from "../operator/kubeconfig.ts";
import { Watcher } from "../operator/watcher.ts";
import { intentHash } from "../operator/workload-reconciler.ts";
import { APPLIED_ANNOTATION, injectedNames, type Workload } from "../operator/workloads.ts";
import { DEFAULT_LAUNCHER_IMAGE } from "../src/inject/conventions.ts";
import { inject } from "../src/inject/inject.ts";
import type { Plugin } from "../src/inject/types.ts";
import { KUBE_VERSION } from "../test/cluster/binaries.ts";
import { TestCluster } from "../test/cluster/cluster.ts";
import { waitFor } from "../test/cluster/wait.ts";
import {
  createNamespace,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  scaleScenario,
  startOperator,
  waitQuiet,
  yaml,
} from "../test/operator/helpers.ts";
import { cpuSeconds, procStatusKiB } from "./lib.ts";

/** One scenario: N Deployments and its Plugins (scaleScenario's N/5 unless given as `NxP`). */
interface Size {
  n: number;
  plugins?: number;
  /** Names its namespaces and operators: `N`, or `NxP` with a Plugin count of its own. */
  tag: string;
}
function size(arg: string): Size {
  const m = /^(\d+)(?:x(\d+))?$/.exec(arg);
  if (!m || Number(m[1]) <= 0 || m[2] === "0")
    throw new Error(
      `bench/operator.ts: ${JSON.stringify(arg)} is no size: give N or NxP (N Deployments, P Plugins), e.g. 1000x1000`,
    );
  return { n: Number(m[1]), plugins: m[2] === undefined ? undefined : Number(m[2]), tag: arg };
}
// The issue's table (N/5 Plugins) and its stated goal, 1,000 Plugins over 1,000 workloads.
const SIZES = (process.argv.length > 2 ? process.argv.slice(2) : ["100", "300", "1000", "1000x1000"]).map(size);
const LARGEST = Math.max(...SIZES.map((s) => s.n));
/** BENCH_PROFILE=1 profiles the first scenario of the largest N. */
const PROFILED = SIZES.find((s) => s.n === LARGEST)?.tag;
const CONCURRENCY = Number(process.env.BENCH_OPERATOR_CONCURRENCY ?? 4);
const TIMEOUT_MS = Number(process.env.BENCH_OPERATOR_TIMEOUT_S ?? 240) * 1000;
const PROFILE = process.env.BENCH_PROFILE === "1";
/** More operator flags, space-separated (e.g. BENCH_OPERATOR_ARGS="--kube-api-qps=0"). */
const EXTRA_ARGS = (process.env.BENCH_OPERATOR_ARGS ?? "").split(" ").filter(Boolean);
/** NODE_OPTIONS of the operators only: by default the chart's (as the chart runs it), "" for Node's defaults. */
const OPERATOR_NODE_OPTIONS =
  process.env.BENCH_OPERATOR_NODE_OPTIONS ??
  String(
    (
      parseYaml(readFileSync(new URL("../charts/podplug/values.yaml", import.meta.url), "utf8")) as {
        nodeOptions?: string;
      }
    ).nodeOptions ?? "",
  );
const OPERATOR_ENV = OPERATOR_NODE_OPTIONS ? { NODE_OPTIONS: OPERATOR_NODE_OPTIONS } : {};
const silent = pino({ level: "silent" });

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

const create = (client: KubeClient, ns: string, o: Record<string, unknown>): Promise<unknown> => {
  const plural = o.kind === "Plugin" ? "/apis/podplug.io/v1alpha1" : "/apis/apps/v1";
  const res = o.kind === "Plugin" ? "plugins" : "deployments";
  return client.request("POST", `${plural}/namespaces/${ns}/${res}`, {
    body: { ...o, metadata: { ...(o.metadata as object), namespace: ns } },
  });
};

/** The server-side apply body the operator sends for one workload (its shape, from the same injection). */
function applyBody(ns: string, w: Record<string, unknown>, plugins: Plugin[]): Record<string, unknown> {
  const name = (w.metadata as { name: string }).name;
  const containers = (w as { spec: { template: V1PodTemplateSpec } }).spec.template.spec!.containers;
  const skeleton: V1PodTemplateSpec = { spec: { containers: containers.map((c) => ({ name: c.name })) } };
  const body: Record<string, unknown> = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      template: inject(skeleton, plugins, { launcherImage: DEFAULT_LAUNCHER_IMAGE, autoMTLS: true, scratch: true }),
    },
  };
  body.metadata = { name, namespace: ns, annotations: { [APPLIED_ANNOTATION]: intentHash(body) } };
  return body;
}

interface Row {
  n: number;
  /** The scenario's name in the tables: N, or N × Plugins. */
  label: string;
  /** Seconds the default run's requests waited for the client rate limiter, until quiet. */
  waitedS: number;
  /** From the first /healthz until /readyz (every initial list done; the workers start). */
  listS: number;
  /** 1-minute load average at the start and end of the converge. */
  load: [number, number];
  /** Converge of the same scenario with the client rate limiter off. */
  convergeOffS: number;
  metricsP99Ms: number;
  metricsMaxMs: number;
  /** Events the operator posted about Plugins until quiet, per Plugin. */
  eventsPerPlugin: number;
  plugins: number;
  /** The mean of the baselines before and after the converge. */
  baselineS: number;
  baselineBeforeS: number;
  baselineAfterS: number;
  convergeS: number;
  rssPeakMiB: number;
  cpuS: number;
  applyP99Ms: number;
  newP99Ms: number;
  healthP99Ms: number;
  healthMaxMs: number;
  /** Objects whose resourceVersion moved across a restart with nothing changed. */
  restartWrites: number;
  /** Requests other than GET the restarted operator sent until quiet. */
  restartSent: number;
  /** Requests other than GET the operator sent from its start until quiet (its rest_client_requests_total). */
  writes: number;
  timedOut: boolean;
}

/** Requests other than GET in the operator's rest_client_requests_total; NaN if it has no such metric. */
async function writesSent(op: OperatorHandle): Promise<number> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  let sum = Number.NaN;
  for (const line of text.split("\n")) {
    const m = /^rest_client_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    // A series of GETs only: the operator counts requests and sent no other.
    if (Number.isNaN(sum)) sum = 0;
    if (!/method="GET"/.test(m[1]!)) sum += Number(m[2]);
  }
  return sum;
}

// The poller's loop, run in a worker thread: the bench's own work on the main thread (its watch of
// 1,000 Deployments, JSON parsing) would otherwise add its delays to the operator's latency.
const POLLER = `
const { parentPort, workerData } = require("node:worker_threads");
const { createServer } = require("node:http");
const { url, everyMs, maxSamples } = workerData;
const out = [];
let on = true;
parentPort.on("message", () => { on = false; });
(async () => {
  // A fresh worker's first fetch loads undici (≈70 ms on a loaded machine): spend that on a server of its own
  // on loopback, so that no sample of the operator carries the poller's start-up.
  const own = createServer((_, res) => res.end("ok"));
  await new Promise((r) => own.listen(0, "127.0.0.1", r));
  await (await fetch("http://127.0.0.1:" + own.address().port + "/")).arrayBuffer();
  own.closeAllConnections();
  await new Promise((r) => own.close(r));
  parentPort.postMessage("ready");
  while (on && out.length < maxSamples) {
    const t = performance.now();
    try {
      await (await fetch(url, { signal: AbortSignal.timeout(10000) })).arrayBuffer();
      out.push(performance.now() - t);
    } catch {
      out.push(10000);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  parentPort.postMessage(out);
})();
`;

/**
 * Polls `url` every `everyMs` from a worker thread until `stop()` (at most
 * 100,000 requests); the latencies in ms (a failure or a 10 s wait counts 10 s).
 */
function sampleLatency(url: string, everyMs: number): { stop(): Promise<number[]> } {
  const w = new Worker(POLLER, { eval: true, workerData: { url, everyMs, maxSamples: 100_000 } });
  const ready = new Promise<void>((resolve, reject) => {
    w.once("message", () => resolve());
    w.once("error", reject);
  });
  const result = ready.then(
    () =>
      new Promise<number[]>((resolve, reject) => {
        w.once("message", (m: number[]) => resolve(m));
        w.once("error", reject);
      }),
  );
  return {
    async stop() {
      w.postMessage("stop");
      const out = await result;
      await w.terminate();
      return out;
    },
  };
}

/** The seconds requests waited for the client rate limiter (rest_client_rate_limiter_duration_seconds_sum). */
async function limiterWaited(op: OperatorHandle): Promise<number> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  const m = /^rest_client_rate_limiter_duration_seconds_sum(?:\{\})? (\S+)$/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Events about Plugins in `ns`. */
async function pluginEvents(client: KubeClient, ns: string): Promise<number> {
  const l = await client.request<{ items: unknown[] }>("GET", `/api/v1/namespaces/${ns}/events`, {
    query: { fieldSelector: "involvedObject.kind=Plugin" },
  });
  return l.items.length;
}

const load1 = (): number => loadavg()[0]!;

const c = new TestCluster();
await c.start();
const client = new KubeClient(await kubeconfigCredentials(c.kubeconfig));
const rows: Row[] = [];
let profileDir: string | undefined;
try {
  await installCrd(c);
  for (const { n, plugins, tag } of SIZES) {
    const sc = scaleScenario(n, plugins);
    const pluginObjs = sc.plugins.map((p) => ({ ...p }));
    const base = `bench-base-${tag}`;
    const baseAfter = `bench-base-after-${tag}`;
    const opNs = `bench-op-${tag}`;
    const offNs = `bench-off-${tag}`;
    const namespaces = [base, opNs, offNs, baseAfter];
    for (const ns of namespaces) await createNamespace(c, ns);
    await pool(
      namespaces.flatMap((ns) => sc.workloads.map((w) => [ns, w] as const)),
      8,
      ([ns, w]) => create(client, ns, w),
    );
    await pool(pluginObjs, CONCURRENCY, (p) => create(client, offNs, p));

    // Baseline: the Plugins, then the operator's apply bodies, straight to the apiserver.
    const byName = new Map(sc.plugins.map((p) => [(p.metadata as { name: string }).name, p as unknown as Plugin]));
    const baseline = async (ns: string): Promise<number> => {
      const bodies = sc.workloads.map((w) =>
        applyBody(
          ns,
          w,
          sc.expected.get((w.metadata as { name: string }).name)!.map((x) => byName.get(x)!),
        ),
      );
      await pool(pluginObjs, CONCURRENCY, (p) => create(client, ns, p));
      // Watched as the operator's namespace is (the bench's own watch of its progress costs the
      // apiserver and this process the same in both).
      const baseWatch = new Watcher<Workload>(client, `/apis/apps/v1/namespaces/${ns}/deployments`, silent, () => {});
      baseWatch.start();
      await baseWatch.synced;
      const b0 = performance.now();
      await pool(bodies, CONCURRENCY, (body) => {
        const { name } = body.metadata as { name: string };
        return client.write("PATCH", `/apis/apps/v1/namespaces/${ns}/deployments/${name}`, {
          query: { fieldManager: FIELD_MANAGER, force: true },
          contentType: APPLY_PATCH,
          body,
        });
      });
      const s = (performance.now() - b0) / 1000;
      baseWatch.stop();
      return s;
    };
    const baselineBeforeS = await baseline(base);

    // The operator, started on the N Deployments and their Plugins: the clock runs from its first /healthz
    // answer (Node's own start-up excluded) until every Deployment carries its sidecars.
    await pool(pluginObjs, CONCURRENCY, (p) => create(client, opNs, p));
    const done = new Set<string>();
    let onChange: ((w: Readonly<Workload>, name: string) => void) | undefined;
    const watch = new Watcher<Workload>(client, `/apis/apps/v1/namespaces/${opNs}/deployments`, silent, (key, next) => {
      if (!next) return;
      const name = key.split("/")[1]!;
      if (injectedNames(next).join(",") === sc.expected.get(name)?.join(",")) done.add(name);
      onChange?.(next, name);
    });
    watch.start();
    await watch.synced;
    const profiling = PROFILE && tag === PROFILED;
    if (profiling) profileDir = mkdtempSync(join(tmpdir(), "podplug-prof-"));
    const nodeOptions = [OPERATOR_NODE_OPTIONS, profiling ? `--cpu-prof --cpu-prof-dir=${profileDir}` : ""]
      .filter(Boolean)
      .join(" ");
    const env = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};
    const args = [
      "--leader-elect=false",
      `--watch-namespaces=${opNs}`,
      "--log-level=warn",
      `--concurrency=${CONCURRENCY}`,
      ...EXTRA_ARGS,
    ];
    const loadStart = load1();
    let op: OperatorHandle = await startOperator(c, args, c.kubeconfig, `operator-bench-${tag}`, env);
    const t0 = performance.now();
    const pid = op.proc.child.pid!;
    let listS = Number.NaN;
    void waitFor("caches synced", async () => (await fetch(`${op.healthUrl}/readyz`)).ok, TIMEOUT_MS, 20).then(
      () => (listS = (performance.now() - t0) / 1000),
      () => undefined,
    );
    const healthSampler = sampleLatency(`${op.healthUrl}/healthz`, 50);
    const metricsSampler = sampleLatency(`${op.metricsUrl}/metrics`, 250);

    let timedOut = false;
    try {
      await waitFor("every workload patched", () => done.size === n, TIMEOUT_MS, 5);
    } catch {
      timedOut = true;
    }
    const convergeS = (performance.now() - t0) / 1000;
    const loadEnd = load1();
    await waitQuiet(op, 0, TIMEOUT_MS).catch(() => undefined);
    // A Plugin waiting for busy workloads looks again after a delay no queue metric shows: idle
    // queues are not yet quiet, so wait until the writes stop moving too (3 s apart).
    let lastWrites = -1;
    await waitFor(
      "writes settled",
      async () => {
        const w = await writesSent(op);
        const same = w === lastWrites;
        lastWrites = w;
        return same;
      },
      TIMEOUT_MS,
      3000,
    ).catch(() => undefined);
    const cpuS = cpuSeconds(pid);
    const writes = await writesSent(op);
    const waitedS = await limiterWaited(op);
    const eventsPerPlugin = (await pluginEvents(client, opNs)) / sc.plugins.length;
    // The baseline again: the apiserver's speed drifts through a run, and the mean of the two brackets the converge.
    const baselineAfterS = await baseline(baseAfter);

    // The same converge with the client rate limiter off, right after (the first operator idles).
    const convergeOffS = await (async () => {
      const offDone = new Set<string>();
      const offWatch = new Watcher<Workload>(
        client,
        `/apis/apps/v1/namespaces/${offNs}/deployments`,
        silent,
        (key, next) => {
          const name = key.split("/")[1]!;
          if (next && injectedNames(next).join(",") === sc.expected.get(name)?.join(",")) offDone.add(name);
        },
      );
      offWatch.start();
      await offWatch.synced;
      const offArgs = [...args.filter((a) => a !== `--watch-namespaces=${opNs}`), `--watch-namespaces=${offNs}`];
      const off = await startOperator(
        c,
        [...offArgs, "--kube-api-qps=0"],
        c.kubeconfig,
        `operator-bench-${tag}-nolimit`,
        OPERATOR_ENV,
      );
      const t = performance.now();
      const ok = await waitFor("every workload patched, limiter off", () => offDone.size === n, TIMEOUT_MS, 5).then(
        () => true,
        () => false,
      );
      const s = (performance.now() - t) / 1000;
      await off.stop();
      offWatch.stop();
      return ok ? s : Number.NaN;
    })();

    // Steady state: a changed Plugin, applied by kubectl → every workload it selects patched.
    const samples = n >= 1000 ? 10 : 20;
    const applyMs: number[] = [];
    for (let k = 0; k < samples && !timedOut; k++) {
      const j = k % sc.plugins.length;
      const pname = `p${j}`;
      const targets = [...sc.expected].filter(([, ps]) => ps.includes(pname)).map(([w]) => w);
      const value = `v${k}`;
      const seen = new Set<string>();
      let all: number | undefined;
      onChange = (w, name) => {
        const env = (w as unknown as { spec: { template: V1PodTemplateSpec } }).spec.template.spec?.initContainers
          ?.find((x) => x.name === `podplug-${pname}`)
          ?.env?.find((e) => e.name === "BENCH_V")?.value;
        if (env === value && targets.includes(name)) seen.add(name);
        if (seen.size === targets.length && all === undefined) all = performance.now();
      };
      const m = pluginManifest(pname, {
        selector: { matchLabels: { [`sel-${pname}`]: "yes" } },
        env: [{ name: "BENCH_V", value }],
      });
      await c.kubectlOk(["apply", "-n", opNs, "-f", "-"], yaml(m));
      const returned = performance.now();
      await waitFor("plugin change patched", () => all !== undefined, TIMEOUT_MS, 2).catch(() => undefined);
      applyMs.push(Math.max(0, (all ?? Number.NaN) - returned));
    }
    // A new workload → patched.
    const newMs: number[] = [];
    for (let k = 0; k < samples && !timedOut; k++) {
      const name = `new${k}`;
      let at: number | undefined;
      onChange = (w, wn) => {
        if (wn === name && injectedNames(w).includes("p0") && at === undefined) at = performance.now();
      };
      const w = sc.workloads[0]!;
      await create(client, opNs, { ...w, metadata: { ...(w.metadata as object), name } });
      const created = performance.now();
      await waitFor("new workload patched", () => at !== undefined, TIMEOUT_MS, 2).catch(() => undefined);
      newMs.push((at ?? Number.NaN) - created);
    }
    onChange = undefined;
    await waitQuiet(op, 0, TIMEOUT_MS).catch(() => undefined);
    const rssPeakMiB = procStatusKiB(pid, "VmHWM") / 1024;

    // A restart with nothing changed: count objects whose resourceVersion moved.
    const versions = async (): Promise<Map<string, string>> => {
      const out = new Map<string, string>();
      for (const path of [
        `/apis/apps/v1/namespaces/${opNs}/deployments`,
        `/apis/podplug.io/v1alpha1/namespaces/${opNs}/plugins`,
      ]) {
        const l = await client.request<{
          items: { kind?: string; metadata: { name: string; resourceVersion: string } }[];
        }>("GET", path);
        for (const i of l.items) out.set(`${path}/${i.metadata.name}`, i.metadata.resourceVersion);
      }
      return out;
    };
    const health = await healthSampler.stop();
    const metricsMs = await metricsSampler.stop();
    const before = await versions();
    await op.stop();
    op = await startOperator(c, args, c.kubeconfig, `operator-bench-${tag}-restart`, OPERATOR_ENV);
    await waitFor("restarted operator ready", async () => (await fetch(`${op.healthUrl}/readyz`)).ok, TIMEOUT_MS, 50);
    await waitQuiet(op, 0, TIMEOUT_MS).catch(() => undefined);
    const restartSent = await writesSent(op);
    const after = await versions();
    const restartWrites = [...before].filter(([k, v]) => after.get(k) !== v).length;
    await op.stop();
    watch.stop();

    rows.push({
      n,
      label: tag.replace("x", " × "),
      listS,
      waitedS,
      load: [loadStart, loadEnd],
      convergeOffS,
      metricsP99Ms: pct(metricsMs, 99),
      metricsMaxMs: Math.max(...metricsMs),
      eventsPerPlugin,
      plugins: sc.plugins.length,
      baselineS: (baselineBeforeS + baselineAfterS) / 2,
      baselineBeforeS,
      baselineAfterS,
      convergeS,
      rssPeakMiB,
      cpuS,
      applyP99Ms: pct(applyMs, 99),
      newP99Ms: pct(newMs, 99),
      healthP99Ms: pct(health, 99),
      healthMaxMs: Math.max(...health),
      restartWrites,
      restartSent,
      writes,
      timedOut,
    });
    console.error(`bench/operator.ts: N=${tag} done`);
  }
} finally {
  client.close();
  await c.stop();
}

const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : "—");
const loadOf = (r: Row): string => `${f(r.load[0])}→${f(r.load[1])}`;
console.log(
  `\nOperator at scale — ${process.env.PODPLUG_OPERATOR_MAIN ?? "operator/main.ts"}, NODE_OPTIONS ${JSON.stringify(OPERATOR_NODE_OPTIONS)}, concurrency ${CONCURRENCY}${EXTRA_ARGS.length ? ` ${EXTRA_ARGS.join(" ")}` : ""}, kube-apiserver ${KUBE_VERSION}; baseline = the operator's apply bodies sent straight to the apiserver; ratio = baseline / converge; load = 1-min load average (start→end of the converge) on ${cpus().length} cores`,
);
// The issue's scale table first.
console.log("\n| N | converge | ratio to baseline | RSS peak | operator CPU until quiet | load |");
console.log("|---|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.label} | ${r.timedOut ? "> " : ""}${f(r.convergeS, 2)} s | ${f(r.baselineS / r.convergeS, 2)} | ${f(r.rssPeakMiB, 0)} MiB | ${f(r.cpuS)} s | ${loadOf(r)} |`,
  );
// Issue 18's goals, met or not (each a figure of this run).
const goal = (v: number, ok: boolean, text: string): string => `${text} ${Number.isFinite(v) && ok ? "✓" : "✗"}`;
console.log(
  "\n| N | converge ≥ 0.8× baseline | apply → patched p99 ≤ 250 ms | new → patched ≤ 150 ms | RSS ≤ 150 MiB | restart: 0 writes sent (objects changed) | /healthz p99 ≤ 100 ms | /metrics p99 ≤ 100 ms |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const ratio = r.baselineS / r.convergeS;
  console.log(
    `| ${r.label} | ${goal(ratio, ratio >= 0.8, f(ratio, 2))} | ${goal(r.applyP99Ms, r.applyP99Ms <= 250, `${f(r.applyP99Ms, 0)} ms`)} | ${goal(r.newP99Ms, r.newP99Ms <= 150, `${f(r.newP99Ms, 0)} ms`)} | ${goal(r.rssPeakMiB, r.rssPeakMiB <= 150, `${f(r.rssPeakMiB, 0)} MiB`)} | ${goal(r.restartSent, r.restartSent === 0 && r.restartWrites === 0, `${f(r.restartSent, 0)} (${r.restartWrites})`)} | ${goal(r.healthP99Ms, r.healthP99Ms <= 100, `${f(r.healthP99Ms, 0)} ms`)} | ${goal(r.metricsP99Ms, r.metricsP99Ms <= 100, `${f(r.metricsP99Ms, 0)} ms`)} |`,
  );
}
console.log(
  "\n| N | Plugins | load (start→end) | baseline: before, after → mean | converge (of which lists) | ratio | limiter: waited; off: converge, ratio off/on | RSS peak | CPU until quiet | kubectl apply → patched p99 | new workload → patched p99 | /healthz p99 (max) | /metrics p99 (max) | writes until quiet | Events per Plugin | restart: writes sent (objects changed) |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.label} | ${r.plugins} | ${loadOf(r)} | ${f(r.baselineBeforeS, 2)} s, ${f(r.baselineAfterS, 2)} s → ${f(r.baselineS, 2)} s | ${r.timedOut ? "> " : ""}${f(r.convergeS, 2)} s (${f(r.listS, 2)} s) | ${f(r.baselineS / r.convergeS, 2)} | ${f(r.waitedS, 2)} s; ${f(r.convergeOffS, 2)} s, ${f(r.convergeOffS / r.convergeS, 2)} | ${f(r.rssPeakMiB, 0)} MiB | ${f(r.cpuS)} s | ${f(r.applyP99Ms, 0)} ms | ${f(r.newP99Ms, 0)} ms | ${f(r.healthP99Ms, 0)} ms (${f(r.healthMaxMs, 0)}) | ${f(r.metricsP99Ms, 0)} ms (${f(r.metricsMaxMs, 0)}) | ${f(r.writes, 0)} | ${f(r.eventsPerPlugin, 2)} | ${f(r.restartSent, 0)} (${r.restartWrites}) |`,
  );
}

if (profileDir) {
  // Self time per function over the whole run of the largest N.
  const file = readdirSync(profileDir).find((x) => x.endsWith(".cpuprofile"));
  if (file) {
    const prof = JSON.parse(readFileSync(join(profileDir, file), "utf8")) as {
      nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
      samples: number[];
    };
    const byId = new Map(prof.nodes.map((x) => [x.id, x.callFrame]));
    const self = new Map<string, number>();
    for (const id of prof.samples) {
      const cf = byId.get(id)!;
      const k = `${cf.functionName || "(anonymous)"} ${cf.url.replace(/^.*\/(node_modules\/|operator\/|src\/)/, "$1")}:${cf.lineNumber + 1}`;
      self.set(k, (self.get(k) ?? 0) + 1);
    }
    const total = prof.samples.length;
    console.log(`\nCPU profile of N=${LARGEST} (${file}), top self-time frames:`);
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 10))
      console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
  }
}
