/**
 * Real-node benchmarks (issue 10), on the harness's own node (test/node):
 * node up and teardown; `helm install` → operator ready; `kubectl apply` of
 * the demo → the host's first successful call; SIGKILL of a plugin → the
 * kubelet has it running again (the baseline) → the host's calls succeed
 * again, over ≥ 20 kills; and the longest gap in successful calls while a
 * Plugin update rolls out; podplug's per-pod RSS (bench/pod-rss.ts). The demo host calls once a second, so the host
 * figures carry up to 1 s of tick granularity. Needs root.
 */
import { resolve } from "node:path";
import { waitFor } from "../test/cluster/wait.ts";
import { kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import {
  callsSucceedAfter,
  demoPlugins,
  HOST_REPLICAS,
  hostPods,
  NS,
  type PodJson,
  pod,
  REPO,
  restrictedHost,
  status,
  type Tick,
  ticks,
  yamlOf,
} from "../test/e2e/demo.ts";
import { freshNamespace } from "../test/e2e/pods.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { podOverhead, printOverhead } from "./pod-rss.ts";
import { deleteFigures, hangFigures } from "./pod-timings.ts";

const KILLS = Number(process.env.BENCH_NODE_KILLS ?? 20);
const UPS = Number(process.env.BENCH_NODE_UPS ?? 3);
const HANGS = Number(process.env.BENCH_NODE_HANGS ?? 20);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
/** Non-throwing: whether container `name` of `p` is ready (a new pod may have no statuses yet). */
const isReady = (p: PodJson, name: string): boolean =>
  [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])].some(
    (s) => s.name === name && s.ready,
  );
const line = (what: string, xs: number[], unit = "s"): void =>
  console.log(
    `  ${what}: median ${pct(xs, 50).toFixed(2)} ${unit}, p99 ${pct(xs, 99).toFixed(2)} ${unit} (n=${xs.length})`,
  );

console.log(
  "\nReal node (test/node): etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy",
);
await RealNode.reapStale();

// Node up and down with only its own images (pause, tools), as REAL-NODE.md measured.
const ready: number[] = [];
const downs: number[] = [];
for (let i = 0; i < UPS; i++) {
  const n = new RealNode();
  await n.up(nodeImages());
  ready.push(n.timings.nodeReady ?? Number.NaN);
  await n.down();
  downs.push(n.timings.teardown ?? Number.NaN);
}
line("nothing running → node Ready", ready);
line("teardown, nothing left", downs);

const images = [...nodeImages(), ...readImageIndex(projectImageIndex(), "make images")];
const node = new RealNode();
await node.up(images);
const c = new NodeCluster(node, images);
try {
  console.log(
    `  with the project's images: node Ready ${node.timings.nodeReady?.toFixed(2)} s (images imported at ${node.timings.imagesImported?.toFixed(2)} s)`,
  );
  let t = Date.now();
  await kubectlOk(c, ["create", "namespace", "podplug-system"]);
  const h = await c.helm(["install", "podplug", resolve(REPO, "charts/podplug"), "-n", "podplug-system", "--wait"]);
  if (h.code !== 0) throw new Error(h.stderr);
  console.log(`  helm install → operator Deployment available: ${((Date.now() - t) / 1000).toFixed(2)} s`);

  await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  t = Date.now();
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(demoPlugins()));
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], restrictedHost());
  const first = await waitFor(
    "the first successful call",
    async () => {
      for (const p of (JSON.parse(await kubectlOk(c, ["-n", NS, "get", "pods", "-o", "json"])) as { items: PodJson[] })
        .items) {
        if (!isReady(p, "host")) continue;
        const ok = (await ticks(c, p.metadata.name)).find((x) => x.kv && !x.kv.startsWith("error"));
        if (ok) return ok;
      }
      return undefined;
    },
    180_000,
    200,
  );
  console.log(
    `  kubectl apply (Plugins + host) → the host's first successful call: ${((first.time - t) / 1000).toFixed(2)} s`,
  );
  printOverhead(
    await podOverhead(node, await hostPods(c, ["podplug-kv", "podplug-counter"]), ["podplug-kv", "podplug-counter"]),
  );

  // SIGKILL each plugin container once (a second kill within minutes waits out the kubelet's 10 s crash-loop
  // back-off), then replace the pods to start with fresh back-off.
  const restart: number[] = [];
  const reconnect: number[] = [];
  while (reconnect.length < KILLS) {
    const ps = await hostPods(c, ["podplug-kv", "podplug-counter"]);
    for (const p of ps)
      for (const name of ["podplug-kv", "podplug-counter"] as const) {
        if (reconnect.length >= KILLS) break;
        const s = status(p, name);
        if (s.restartCount !== 0 || !s.containerID) continue;
        const t0 = Date.now();
        await c.signalContainer(p.spec.nodeName, s.containerID, "SIGKILL");
        await waitFor(
          `${name} running again`,
          async () => {
            const q = status(await pod(c, NS, p.metadata.name), name);
            return q.restartCount === 1 && q.state?.running !== undefined;
          },
          60_000,
          100,
        );
        restart.push((Date.now() - t0) / 1000);
        const back: Tick = await callsSucceedAfter(c, p.metadata.name, t0, [name === "podplug-kv" ? "kv" : "counter"]);
        reconnect.push((back.time - t0) / 1000);
      }
    await kubectlOk(c, ["-n", NS, "delete", "pods", "-l", "app=demo-host", "--wait=false"]);
    await waitFor(
      "fresh demo-host pods",
      async () => {
        const fresh = (await hostPods(c, ["podplug-kv"])).filter((q) =>
          ps.every((o) => o.metadata.name !== q.metadata.name),
        );
        return fresh.length === HOST_REPLICAS;
      },
      180_000,
      500,
    );
  }
  console.log("  SIGKILL of a plugin process in a pod:");
  line("  → kubelet has it running again (baseline)", restart);
  line("  → the host's calls succeed again", reconnect);
  console.log(`    ratio of medians host/kubelet: ${(pct(reconnect, 50) / pct(restart, 50)).toFixed(2)}`);

  // Issue 19 (bench/pod-timings.ts): a hung plugin and deleting an idle host, beside their baselines.
  const hang = await hangFigures(c, HANGS);
  console.log("  SIGSTOP of a whole plugin container (a frozen cgroup: launcher and plugin), default injected probes:");
  line("  → the host's first failed call to it (keepalive)", hang.failed);
  line("  → kubelet has it running again", hang.restarted);
  line("  → the host's calls succeed again", hang.recovered);
  console.log(
    `    ratio of medians to the SIGKILL → running again baseline above: kubelet ${(pct(hang.restarted, 50) / pct(restart, 50)).toFixed(2)}, host ${(pct(hang.recovered, 50) / pct(restart, 50)).toFixed(2)}${hang.cut ? ` (${hang.cut})` : ""}${hang.stuck ? `; ${hang.stuck} hang(s) not undone by the kubelet within 90 s, left out` : ""}`,
  );
  // The plugin process alone hung under its live launcher, which kills it on the kubelet's SIGTERM (no 2 s floor).
  const alone = await hangFigures(c, HANGS, Math.min(HANGS, 10), 300_000, "plugin");
  console.log("  SIGSTOP of the plugin process alone (its launcher running), default injected probes:");
  line("  → kubelet has it running again", alone.restarted);
  line("  → the host's calls succeed again", alone.recovered);
  console.log(
    `    ratio of medians to the whole-container hang above: kubelet ${(pct(alone.restarted, 50) / pct(hang.restarted, 50)).toFixed(2)}, host ${(pct(alone.recovered, 50) / pct(hang.recovered, 50)).toFixed(2)}${alone.stuck ? `; ${alone.stuck} not undone within 90 s, left out` : ""}`,
  );
  const del = await deleteFigures(c);
  console.log("  kubectl delete pod --wait=true (default 30 s grace):");
  line("  a pod of the pause image (baseline)", del.plain);
  line("  an idle demo host, stuck attaching", del.host);
  console.log(`    ratio of medians host/baseline: ${(pct(del.host, 50) / pct(del.plain, 50)).toFixed(2)}`);

  // Plugin update: every successful kv call of every host pod while the rollout runs.
  const seen = new Map<string, number>();
  const t1 = Date.now();
  await kubectlOk(c, [
    "-n",
    NS,
    "patch",
    "plugin",
    "kv",
    "--type=json",
    "-p",
    JSON.stringify([{ op: "add", path: "/spec/env/-", value: { name: "BENCH_REVISION", value: "2" } }]),
  ]);
  let done = false;
  const deadline = Date.now() + 240_000;
  while (!done && Date.now() < deadline) {
    const ps = (
      JSON.parse(await kubectlOk(c, ["-n", NS, "get", "pods", "-l", "app=demo-host", "-o", "json"])) as {
        items: PodJson[];
      }
    ).items;
    for (const p of ps) {
      const r = await c.kubectl(["-n", NS, "logs", p.metadata.name, "-c", "host", "--tail=20"]);
      for (const l of r.stdout.split("\n").filter((x) => x.includes('"called both plugins"'))) {
        const k = JSON.parse(l) as Tick;
        if (k.kv && !k.kv.startsWith("error")) seen.set(`${p.metadata.name}/${k.tick}`, k.time);
      }
    }
    const updated = ps.filter(
      (p) => JSON.stringify(p.spec.initContainers).includes("BENCH_REVISION") && isReady(p, "host"),
    );
    done =
      ps.length === HOST_REPLICAS &&
      updated.length === HOST_REPLICAS &&
      Date.now() - t1 > 5000 &&
      [...seen.entries()].some(
        ([k, v]) => v > Date.now() - 2000 && updated.some((u) => k.startsWith(`${u.metadata.name}/`)),
      );
    await new Promise((r) => setTimeout(r, 500));
  }
  const times = [...seen.values()].filter((x) => x >= t1 - 2000).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] ?? 0) - (times[i - 1] ?? 0));
  console.log(
    `  Plugin update (env) → rolling update of the host Deployment (${HOST_REPLICAS} replicas): ${((Date.now() - t1) / 1000).toFixed(1)} s to roll; ` +
      `longest gap between successful kv calls across the hosts ${(gap / 1000).toFixed(2)} s (calls every 1 s per host)`,
  );
} finally {
  await node.down();
}
