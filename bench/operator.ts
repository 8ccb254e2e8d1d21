/**
 * Benchmark: time from `kubectl apply` of a Plugin to the host Deployment's
 * pod template carrying its sidecar, over N Plugins (default 30), on the real
 * test apiserver; and the operator's memory (RSS) idle and after the run.
 *   node bench/operator.ts [N]
 * PODPLUG_OPERATOR_MAIN=dist/operator/main.js measures the compiled build
 * (what the image runs) instead of the TypeScript sources.
 * Prints a table; asserts nothing (timing belongs here, not in tests).
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { KubeClient } from "../operator/client.ts";
import { kubeconfigCredentials } from "../operator/kubeconfig.ts";

import { Watcher } from "../operator/watcher.ts";
import { injectedNames, type Workload } from "../operator/workloads.ts";
import { TestCluster } from "../test/cluster/cluster.ts";
import {
  createNamespace,
  hostDeployment,
  installCrd,
  pluginManifest,
  startOperator,
  yaml,
} from "../test/operator/helpers.ts";

const N = Number(process.argv[2] ?? 30);
const NS = "bench";

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const c = new TestCluster();
await c.start();
try {
  await installCrd(c);
  await createNamespace(c, NS);
  const op = await startOperator(
    c,
    ["--leader-elect=false", `--watch-namespaces=${NS}`, "--log-level=warn"],
    c.kubeconfig,
    "operator-bench",
  );
  const pid = op.proc.child.pid!;
  await new Promise((r) => setTimeout(r, 2000));
  const idle = rssMiB(pid);

  const hosts = [];
  for (let i = 0; i < N; i++) hosts.push(hostDeployment(`b${i}-host`, { bench: `b${i}` }));
  await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(...hosts));

  // Our own watch sees the patched template the moment the apiserver stores it.
  const client = new KubeClient(await kubeconfigCredentials(c.kubeconfig));
  const patchedAt = new Map<string, number>();
  const w = new Watcher<Workload>(
    client,
    `/apis/apps/v1/namespaces/${NS}/deployments`,
    pino({ level: "silent" }),
    (key, next) => {
      const name = key.split("/")[1]!.replace(/-host$/, "");
      if (injectedNames(next).includes(name) && !patchedAt.has(name)) patchedAt.set(name, performance.now());
    },
  );
  w.start();
  await w.synced;

  const fromApply: number[] = [];
  const fromStored: number[] = [];
  for (let i = 0; i < N; i++) {
    const name = `b${i}`;
    const t0 = performance.now();
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest(name, { selector: { matchLabels: { bench: name } } })),
    );
    const t1 = performance.now();
    while (!patchedAt.has(name)) await new Promise((r) => setTimeout(r, 2));
    const t2 = patchedAt.get(name)!;
    fromApply.push(t2 - t0);
    fromStored.push(Math.max(0, t2 - t1));
  }
  const after = rssMiB(pid);
  const metricsRss = /process_resident_memory_bytes (\d+)/.exec(await (await fetch(`${op.metricsUrl}/metrics`)).text());
  w.stop();
  client.close();
  await op.stop();

  const a = [...fromApply].sort((x, y) => x - y);
  const s = [...fromStored].sort((x, y) => x - y);
  const f = (v: number): string => v.toFixed(0).padStart(6);
  console.log(
    `podplug operator benchmark: ${N} Plugins, one host Deployment each, kube-apiserver ${process.env.PODPLUG_KUBE_VERSION ?? "v1.32.13"}, operator ${process.env.PODPLUG_OPERATOR_MAIN ?? "operator/main.ts"}`,
  );
  console.log("latency (ms)                              median    p99    max");
  console.log(`kubectl apply started -> template patched ${f(pct(a, 50))} ${f(pct(a, 99))} ${f(a[a.length - 1]!)}`);
  console.log(`kubectl apply returned -> template patched${f(pct(s, 50))} ${f(pct(s, 99))} ${f(s[s.length - 1]!)}`);
  console.log(
    `operator RSS: idle ${idle.toFixed(1)} MiB, after ${N} Plugins ${after.toFixed(1)} MiB (prom: ${metricsRss ? (Number(metricsRss[1]) / 2 ** 20).toFixed(1) : "?"} MiB)`,
  );
} finally {
  await c.stop();
}
