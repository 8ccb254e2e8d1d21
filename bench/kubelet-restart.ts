/**
 * kubelet process restart → the host reconnected (issue 10), on the harness's
 * own node (test/node). The Go host (examples/go-host, sdk/go) calls its TS kv
 * sidecar every 100 ms. Each kubelet round stops the kubelet process and starts
 * it again (containers keep running under containerd), then at once SIGKILLs a
 * plugin process, and measures the host's outage from its log: its first
 * failed call after the kill to its next successful one. The
 * baseline, interleaved with it in the same run, is the same SIGKILL without a
 * kubelet restart. Each kill hits a container that has not restarted yet (a
 * second crash within minutes waits out the kubelet's 10 s crash-loop
 * back-off); the pods are then replaced. Needs root.
 *
 *   node bench/kubelet-restart.ts     BENCH_KUBELET_ROUNDS (default 20 of each)
 */
import { resolve } from "node:path";
import { waitFor } from "../test/cluster/wait.ts";
import { type E2ECluster, kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import { pod, REPO, status } from "../test/e2e/demo.ts";
import {
  goCallSucceedsAfter,
  goHost,
  goHostPlugin,
  goHostPods,
  goOutageAfter,
  KV_CONTAINER,
} from "../test/e2e/go-host.ts";
import { freshNamespace } from "../test/e2e/pods.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { percentile } from "./lib.ts";

const ROUNDS = Number(process.env.BENCH_KUBELET_ROUNDS ?? 20);
/** Host pods per generation: each pod's plugin is killed once, then the pods are replaced. */
const REPLICAS = 6;
const NS = "podplug-bench-kubelet";

const line = (what: string, xs: number[]): void =>
  console.log(
    `  ${what}: median ${percentile(xs, 50).toFixed(2)} s, p99 ${percentile(xs, 99).toFixed(2)} s (n=${xs.length})`,
  );

interface Recovery {
  /** Seconds from the host's first failed call after the kill to its next successful one (its outage). */
  calls: number;
  /** Seconds from the kill to the API showing the plugin running again. */
  running: number;
  /** Seconds from the kubelet's stop to the host's first failed call. */
  kubelet: number;
}

/**
 * SIGKILLs the kv plugin of pod `name`, after a kubelet restart if asked, and measures the recovery; undefined
 * when the plugin has restarted already (a liveness restart under load: a kill now would wait out the back-off).
 */
async function killAndRecover(c: E2ECluster, name: string, restartKubelet: boolean): Promise<Recovery | undefined> {
  const p = await pod(c, NS, name);
  const s = status(p, KV_CONTAINER);
  if (s.restartCount !== 0 || !s.containerID) return undefined;
  const tStop = Date.now();
  if (restartKubelet) await c.restartKubelet(p.spec.nodeName);
  const tk = Date.now();
  await c.signalContainer(p.spec.nodeName, s.containerID, "SIGKILL");
  // Both watched at once: the host may be back before the kubelet's status reaches the API, or after.
  const [outage, running] = await Promise.all([
    // The outage is read from the host's own log: under load `ctr` may take a while to deliver the signal.
    goOutageAfter(c, NS, name, tk),
    waitFor(
      `${KV_CONTAINER} of ${name} running again`,
      async () => {
        const q = status(await pod(c, NS, name), KV_CONTAINER);
        return q.restartCount === 1 && q.state?.running !== undefined ? Date.now() : undefined;
      },
      60_000,
      100,
    ),
  ]);
  return {
    calls: (outage.back.time - outage.failed.time) / 1000,
    running: (running - tk) / 1000,
    kubelet: (outage.failed.time - tStop) / 1000,
  };
}

console.log(
  "\nkubelet process restart → host reconnected (test/node; Go host via sdk/go, TS kv plugin, calls every 100 ms)",
);
await RealNode.reapStale();
// Only the images this bench runs: each import costs seconds.
const images = [
  ...nodeImages(),
  ...readImageIndex(projectImageIndex(), "make images").filter((i) =>
    ["podplug", "example-kv", "example-go-host"].some((n) => i.ref.includes(`/${n}:`)),
  ),
];
const node = new RealNode();
await node.up(images);
const c = new NodeCluster(node, images);
const started = Date.now();
try {
  await kubectlOk(c, ["create", "namespace", "podplug-system"]);
  const h = await c.helm(["install", "podplug", resolve(REPO, "charts/podplug"), "-n", "podplug-system", "--wait"]);
  if (h.code !== 0) throw new Error(h.stderr);
  await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  // A patient liveness probe: on a loaded machine the example's 1 s × 3 restarts plugins the bench did not kill.
  await kubectlOk(
    c,
    ["-n", NS, "apply", "-f", "-"],
    goHostPlugin({ periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 6 }),
  );
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], goHost(REPLICAS, "100ms"));

  const base: number[] = [];
  const afterKubelet: number[] = [];
  const sinceKubeletStop: number[] = [];
  const kubeletBack: number[] = [];
  const baseBack: number[] = [];
  let skipped = 0;
  while (base.length < ROUNDS || afterKubelet.length < ROUNDS) {
    const ps = await goHostPods(c, NS, REPLICAS);
    for (const p of ps) await goCallSucceedsAfter(c, NS, p.metadata.name, 0);
    for (const p of ps) {
      if (base.length >= ROUNDS && afterKubelet.length >= ROUNDS) break;
      // Interleaved, so both kinds see the same load.
      const kubelet = base.length >= ROUNDS || (afterKubelet.length < ROUNDS && afterKubelet.length <= base.length);
      const r = await killAndRecover(c, p.metadata.name, kubelet);
      if (!r) {
        skipped++;
        continue;
      }
      if (kubelet) {
        afterKubelet.push(r.calls);
        sinceKubeletStop.push(r.calls + r.kubelet);
        kubeletBack.push(r.running);
      } else {
        base.push(r.calls);
        baseBack.push(r.running);
      }
    }
    await kubectlOk(c, ["-n", NS, "delete", "pods", "-l", "app=go-host", "--wait=false"]);
    await waitFor(
      "fresh go-host pods",
      async () =>
        (await goHostPods(c, NS, REPLICAS)).every((q) => ps.every((o) => o.metadata.name !== q.metadata.name)),
      180_000,
      500,
    );
  }
  console.log(
    "  SIGKILL of the plugin process: the Go host's outage, from its first failed call to its next successful one (calls every 0.1 s):",
  );
  line("  without a kubelet restart (baseline)", base);
  line("  right after a kubelet process restart", afterKubelet);
  console.log(
    `    ratio of medians after-restart/baseline: ${(percentile(afterKubelet, 50) / percentile(base, 50)).toFixed(2)}`,
  );
  line("  the same, counted from the kubelet's stop to the successful call", sinceKubeletStop);
  line("  kill after a kubelet restart → the API shows the plugin running again (polled every 0.1 s)", kubeletBack);
  line("  kill without one → the same (baseline)", baseBack);
  console.log(
    `  (${((Date.now() - started) / 1000).toFixed(0)} s for ${ROUNDS} rounds of each, node up excluded; ${skipped} pods skipped: their plugin had restarted before its round)`,
  );
} finally {
  await node.down();
}
