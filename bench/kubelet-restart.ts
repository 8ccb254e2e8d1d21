/**
 * kubelet process restart → the host reconnected (issue 10), on the harness's
 * own node (test/node). The Go host (examples/go-host, sdk/go) calls its TS kv
 * sidecar every 100 ms. Each kubelet round stops the kubelet process and starts
 * it again (containers keep running under containerd), then at once SIGKILLs a
 * plugin process, and measures until the host's calls succeed again. The
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
import { type PodJson, pod, REPO, status } from "../test/e2e/demo.ts";
import { goCallSucceedsAfter, goHost, goHostPlugin, goHostPods, KV_CONTAINER } from "../test/e2e/go-host.ts";
import { freshNamespace } from "../test/e2e/pods.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { percentile } from "./lib.ts";

const ROUNDS = Number(process.env.BENCH_KUBELET_ROUNDS ?? 20);
/** Host pods per generation: each pod's plugin is killed once, then the pods are replaced. */
const REPLICAS = 10;
const NS = "podplug-bench-kubelet";

const line = (what: string, xs: number[]): void =>
  console.log(
    `  ${what}: median ${percentile(xs, 50).toFixed(2)} s, p99 ${percentile(xs, 99).toFixed(2)} s (n=${xs.length})`,
  );

/** SIGKILLs the kv plugin of `p` and returns the seconds until the host's calls succeed again, and until it runs. */
async function killAndRecover(c: E2ECluster, p: PodJson, t0: number): Promise<{ calls: number; running: number }> {
  const s = status(await pod(c, NS, p.metadata.name), KV_CONTAINER);
  const seen = status(p, KV_CONTAINER);
  if (s.containerID !== seen.containerID || s.restartCount !== seen.restartCount)
    console.log(
      `  note: ${p.metadata.name}'s ${KV_CONTAINER} changed since the round began: restartCount ${seen.restartCount} → ${s.restartCount}, container ${seen.containerID?.slice(13, 25)} → ${s.containerID?.slice(13, 25)}`,
    );
  if (!s.containerID) throw new Error(`${p.metadata.name} has no ${KV_CONTAINER} container id`);
  const tk = Date.now();
  await c.signalContainer(p.spec.nodeName, s.containerID, "SIGKILL");
  // Both watched at once: the host may be back before the kubelet's status reaches the API, or after.
  const [back, running] = await Promise.all([
    goCallSucceedsAfter(c, NS, p.metadata.name, tk),
    waitFor(
      `${KV_CONTAINER} of ${p.metadata.name} running again`,
      async () => {
        const q = status(await pod(c, NS, p.metadata.name), KV_CONTAINER);
        return q.restartCount === s.restartCount + 1 && q.state?.running !== undefined ? Date.now() : undefined;
      },
      60_000,
      100,
    ),
  ]);
  return { calls: (back.time - t0) / 1000, running: (running - t0) / 1000 };
}

console.log(
  "\nkubelet process restart → host reconnected (test/node; Go host via sdk/go, TS kv plugin, calls every 100 ms)",
);
await RealNode.reapStale();
const images = [...nodeImages(), ...readImageIndex(projectImageIndex(), "make images")];
const node = new RealNode();
await node.up(images);
const c = new NodeCluster(node, images);
const started = Date.now();
try {
  await kubectlOk(c, ["create", "namespace", "podplug-system"]);
  const h = await c.helm(["install", "podplug", resolve(REPO, "charts/podplug"), "-n", "podplug-system", "--wait"]);
  if (h.code !== 0) throw new Error(h.stderr);
  await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], goHostPlugin());
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], goHost(REPLICAS, "100ms"));

  const base: number[] = [];
  const afterKubelet: number[] = [];
  const sinceKubeletStop: number[] = [];
  const kubeletBack: number[] = [];
  const baseBack: number[] = [];
  while (base.length < ROUNDS || afterKubelet.length < ROUNDS) {
    const ps = await goHostPods(c, NS, REPLICAS);
    for (const p of ps) await goCallSucceedsAfter(c, NS, p.metadata.name, 0);
    for (const p of ps) {
      if (base.length >= ROUNDS && afterKubelet.length >= ROUNDS) break;
      if (status(p, KV_CONTAINER).restartCount !== 0) continue;
      // Interleaved, so both kinds see the same load.
      const kubelet = base.length >= ROUNDS || (afterKubelet.length < ROUNDS && afterKubelet.length <= base.length);
      if (kubelet) {
        const tStop = Date.now();
        await c.restartKubelet(p.spec.nodeName);
        const tKill = Date.now();
        const r = await killAndRecover(c, p, tKill);
        afterKubelet.push(r.calls);
        sinceKubeletStop.push(r.calls + (tKill - tStop) / 1000);
        kubeletBack.push(r.running);
      } else {
        const r = await killAndRecover(c, p, Date.now());
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
  console.log("  SIGKILL of the plugin process → the Go host's calls succeed again:");
  line("  without a kubelet restart (baseline)", base);
  line("  right after a kubelet process restart", afterKubelet);
  console.log(
    `    ratio of medians after-restart/baseline: ${(percentile(afterKubelet, 50) / percentile(base, 50)).toFixed(2)}`,
  );
  line("  the same, counted from the kubelet's stop", sinceKubeletStop);
  line("  kill after a kubelet restart → the API shows the plugin running again (polled every 0.1 s)", kubeletBack);
  line("  kill without one → the same (baseline)", baseBack);
  console.log(`  (${((Date.now() - started) / 1000).toFixed(0)} s for ${ROUNDS} rounds of each, node up excluded)`);
} finally {
  await node.down();
}
