/**
 * Issue 19's pod timings, for bench/node.ts, each beside a baseline measured
 * in the same run on the same node:
 *   hang → back: SIGSTOP of a plugin's process in a demo pod → the kubelet
 *     has it running again → the host's calls to it succeed again (beside:
 *     SIGKILL → running again, node.ts's kill figures);
 *   `kubectl delete pod --wait=true` of an idle demo host (stuck attaching,
 *     the pod's default 30 s grace) beside the same for a pod of the pause
 *     image (which exits on SIGTERM at once).
 */
import { waitFor } from "../test/cluster/wait.ts";
import type { E2ECluster } from "../test/e2e/cluster.ts";
import { kubectlOk } from "../test/e2e/cluster.ts";
import { callsSucceedAfter, HOST_REPLICAS, hostPods, loneHost, NS, pod, status } from "../test/e2e/demo.ts";
import { RESTRICTED_CONTAINER } from "../test/e2e/pods.ts";
import { imageRef } from "../test/node/images.ts";

export interface HangFigures {
  /** SIGSTOP → the kubelet reports the container running again, s. */
  restarted: number[];
  /** SIGSTOP → the host's first successful call to that plugin, s. */
  recovered: number[];
  /** Why the run stopped before `want` hangs, if it did. */
  cut?: string;
  /** Hangs the kubelet did not undo within 90 s (left out of the figures). */
  stuck: number;
}

/**
 * Hangs each fresh plugin container of the demo pods once (a second restart
 * within minutes waits out the kubelet's crash-loop back-off), replacing the
 * pods between rounds, until `want` hangs or `budgetMs` has passed with at
 * least `least` hangs.
 */
export async function hangFigures(c: E2ECluster, want = 20, least = 10, budgetMs = 300_000): Promise<HangFigures> {
  const out: HangFigures = { restarted: [], recovered: [], stuck: 0 };
  const start = Date.now();
  const over = (): boolean =>
    out.recovered.length >= want || (out.recovered.length >= least && Date.now() - start > budgetMs);
  while (!over()) {
    const ps = await hostPods(c, ["podplug-kv", "podplug-counter"]);
    for (const p of ps)
      for (const name of ["podplug-kv", "podplug-counter"] as const) {
        if (over()) break;
        const s = status(p, name);
        if (s.restartCount !== 0 || !s.containerID) continue;
        const t0 = Date.now();
        await c.signalContainer(p.spec.nodeName, s.containerID, "SIGSTOP");
        try {
          await waitFor(
            `${name} running again after its hang`,
            async () => {
              const q = status(await pod(c, NS, p.metadata.name), name);
              return q.restartCount === 1 && q.state?.running !== undefined;
            },
            90_000,
            100,
          );
        } catch {
          out.stuck++;
          await c.signalContainer(p.spec.nodeName, s.containerID, "SIGCONT");
          continue;
        }
        out.restarted.push((Date.now() - t0) / 1000);
        const back = await callsSucceedAfter(c, p.metadata.name, t0, [name === "podplug-kv" ? "kv" : "counter"]);
        out.recovered.push((back.time - t0) / 1000);
      }
    if (over()) break;
    await kubectlOk(c, ["-n", NS, "delete", "pods", "-l", "app=demo-host", "--wait=false"]);
    await waitFor(
      "fresh demo-host pods",
      async () =>
        (await hostPods(c, ["podplug-kv"])).filter((q) => ps.every((o) => o.metadata.name !== q.metadata.name))
          .length === HOST_REPLICAS,
      180_000,
      500,
    );
  }
  if (out.recovered.length < want) out.cut = `stopped at ${out.recovered.length} hangs after ${budgetMs / 1000} s`;
  return out;
}

export interface DeleteFigures {
  /** `kubectl delete pod --wait=true` of an idle demo host stuck attaching, s. */
  host: number[];
  /** The same for a pod of the pause image, s. */
  plain: number[];
}

/** `n` idle hosts and `n` pause pods, all created at once, then each deleted and timed in turn. */
export async function deleteFigures(c: E2ECluster, n = 10): Promise<DeleteFigures> {
  const pause = imageRef(c.images, "localhost/podplug/pause:");
  const plainPod = (name: string): string =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels: { app: "bench-plain" } },
      spec: {
        containers: [{ name: "pause", image: pause, imagePullPolicy: "Never", securityContext: RESTRICTED_CONTAINER }],
      },
    });
  const hosts = Array.from({ length: n }, (_, i) => `bench-idle-${i}`);
  const plains = Array.from({ length: n }, (_, i) => `bench-plain-${i}`);
  const env = { DEMO_METRICS_PORT: "0", PODPLUG_SOCKET_ROOT: "/var/run/podplug", PODPLUG_PLUGINS: "counter,kv" };
  await kubectlOk(
    c,
    ["-n", NS, "apply", "-f", "-"],
    [...hosts.map((h) => loneHost(c, h, env, "Always")), ...plains.map(plainPod)].join("\n---\n"),
  );
  await waitFor(
    "the idle hosts and pause pods running, each host attaching",
    async () => {
      for (const h of [...hosts, ...plains]) {
        const q = await pod(c, NS, h);
        if (!(q.status.containerStatuses ?? [])[0]?.state?.running) return false;
      }
      for (const h of hosts)
        if (!(await c.kubectl(["-n", NS, "logs", h])).stdout.includes('"msg":"metrics"')) return false;
      return true;
    },
    180_000,
    1000,
  );
  const out: DeleteFigures = { host: [], plain: [] };
  for (let i = 0; i < n; i++)
    for (const [name, into] of [
      [hosts[i]!, out.host],
      [plains[i]!, out.plain],
    ] as const) {
      const t0 = performance.now();
      await kubectlOk(c, ["-n", NS, "delete", "pod", name, "--wait=true"], undefined, 60_000);
      into.push((performance.now() - t0) / 1000);
    }
  return out;
}
