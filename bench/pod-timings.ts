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

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../test/cluster/wait.ts";
import type { E2ECluster } from "../test/e2e/cluster.ts";
import { kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import {
  callsSucceedAfter,
  HOST_REPLICAS,
  hostPods,
  loneHost,
  NS,
  pod,
  status,
  tickRecords,
} from "../test/e2e/demo.ts";
import { RESTRICTED_CONTAINER } from "../test/e2e/pods.ts";
import { imageRef } from "../test/node/images.ts";

export interface HangFigures {
  /** SIGSTOP → the kubelet reports the container running again, s. */
  restarted: number[];
  /** SIGSTOP → the host's first successful call to that plugin, s. */
  recovered: number[];
  /** SIGSTOP → the host's first failed call to that plugin (its keepalive), s. */
  failed: number[];
  /** Where each hang's time went, from the node's logs (a NodeCluster only). */
  steps: HangSteps[];
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
export async function hangFigures(
  c: E2ECluster,
  want = 20,
  least = 10,
  budgetMs = 300_000,
  how: "container" | "plugin" = "container",
): Promise<HangFigures> {
  // "container": every process of the container stopped (a frozen cgroup; the launcher cannot act);
  // "plugin": the plugin process alone, under a live launcher (a plugin that hangs on its own).
  const hang = async (node: string, id: string, signal: "SIGSTOP" | "SIGCONT"): Promise<void> => {
    if (how === "container") return c.signalContainer(node, id, signal);
    if (!(c instanceof NodeCluster)) throw new Error("a hang of the plugin alone needs the harness's own node");
    await c.node.signalChildren(id, signal);
  };
  const out: HangFigures = { restarted: [], recovered: [], failed: [], steps: [], stuck: 0 };
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
        await hang(p.spec.nodeName, s.containerID, "SIGSTOP");
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
          await hang(p.spec.nodeName, s.containerID, "SIGCONT");
          continue;
        }
        out.restarted.push((Date.now() - t0) / 1000);
        const plugin = name === "podplug-kv" ? "kv" : "counter";
        // Back = the first success after the first failure: a tick logged just after t0 may have called
        // before the stop took effect.
        const fail = (await tickRecords(c, p.metadata.name, NS, 400)).find(
          (r) => r.time > t0 && r.failed?.includes(plugin),
        );
        if (fail) out.failed.push((fail.time - t0) / 1000);
        const back = await callsSucceedAfter(c, p.metadata.name, fail?.time ?? t0, [plugin]);
        out.recovered.push((back.time - t0) / 1000);
        if (c instanceof NodeCluster) out.steps.push(await hangSteps(c, p.metadata.name, name, plugin, t0, back.time));
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

/** One hang's steps, each in s from the SIGSTOP; NaN when its log line was not found. */
export interface HangSteps {
  /** The kubelet logs the liveness probe's first failure. */
  probeFailed: number;
  /** The kubelet decides to restart (its "Killing container with a grace period" line). */
  killing: number;
  /** The restarted container's first output line (the CRI log's own timestamp). */
  started: number;
  /** The plugin in it logs that it serves. */
  serving: number;
  /** The host logs that it re-attached. */
  reattached: number;
  /** The host's first successful call to it (its tick). */
  back: number;
}

/** klog's `I1201 15:51:02.123456` as epoch ms (the node's clock is the machine's, UTC). */
function klogTime(line: string): number {
  const m = /^[IWE](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})/.exec(line);
  if (!m) return Number.NaN;
  const [, mo, d, h, mi, sec, us] = m.map(Number) as number[];
  return Date.UTC(new Date().getUTCFullYear(), mo! - 1, d!, h!, mi!, sec!) + us! / 1000;
}

/** Reads where one hang's time went from the kubelet's log, the plugin's and the host's. */
async function hangSteps(
  c: NodeCluster,
  podName: string,
  container: string,
  plugin: string,
  t0: number,
  back: number,
): Promise<HangSteps> {
  const s = (t: number | undefined): number => (t === undefined ? Number.NaN : (t - t0) / 1000);
  const kubelet = readFileSync(join(c.node.dir, "kubelet.log"), "utf8")
    .split("\n")
    .filter((l) => l.includes(`pod="${NS}/${podName}"`) && l.includes(`containerName="${container}"`))
    .map((l) => ({ l, t: klogTime(l) }))
    .filter((x) => x.t >= t0);
  const first = (re: RegExp): number | undefined => kubelet.find((x) => re.test(x.l))?.t;
  if (process.env.BENCH_HANG_DEBUG)
    for (const x of kubelet) console.log(`    kubelet +${s(x.t).toFixed(3)}: ${x.l.slice(0, 300)}`);
  const plog = await kubectlOk(c, ["-n", NS, "logs", podName, "-c", container, "--timestamps"]);
  const lines = plog
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => ({ t: Date.parse(l.slice(0, l.indexOf(" "))), l }));
  const hlog = (await kubectlOk(c, ["-n", NS, "logs", podName, "-c", "host", "--tail=400"]))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { time: number; msg: string; plugin?: string; name?: string });
  return {
    probeFailed: s(first(/"Probe failed" probeType="Liveness"/)),
    killing: s(first(/Killing container with a grace period/)),
    started: s(lines[0]?.t),
    // The launcher copies the plugin's handshake line (`1|1|unix|<socket>|grpc`) to its stdout once it serves.
    serving: s(lines.find((x) => /\|unix\|/.test(x.l))?.t),
    reattached: s(
      hlog.find((r) => r.time > t0 && r.msg === "re-attached to the plugin" && JSON.stringify(r).includes(plugin))
        ?.time,
    ),
    back: s(back),
  };
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
