/**
 * kubelet process restart → the host reconnected (issues 10 and 12), on the
 * harness's own node (test/node). Two hosts call the TS kv sidecar: the Go
 * host (examples/go-host, sdk/go) every 100 ms, and a TS host (kvCaller: the
 * host SDK's Client, fail-fast) every 50 ms. Each kubelet round stops the
 * kubelet process and starts it again (containers keep running under
 * containerd), then at once SIGKILLs the plugin process of one host pod. The
 * baseline round, interleaved with it, is the same SIGKILL without a kubelet
 * restart; the rounds alternate between the two hosts. Per kill it reads three moments from the pods' own logs:
 * the host's first failed call after the kill, the restarted plugin's
 * handshake line (when it serves again: the kubelet's part ends there), and
 * the host's next successful call (the host's part: issue 12's goal is
 * ≤ 200 ms). Each kill hits a container that has not restarted yet (a second
 * crash within minutes waits out the kubelet's 10 s crash-loop back-off); the
 * pods are then replaced. Needs root.
 *
 *   node bench/kubelet-restart.ts     BENCH_KUBELET_ROUNDS (default 20 of each)
 */
import { resolve } from "node:path";
import { stringify } from "yaml";
import { waitFor } from "../test/cluster/wait.ts";
import { type E2ECluster, kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import {
  callerOutageAfter,
  demoPlugins,
  kvCaller,
  type PodJson,
  pod,
  REPO,
  shippedHost,
  status,
  yamlOf,
} from "../test/e2e/demo.ts";
import {
  goCallSucceedsAfter,
  goHost,
  goHostPlugin,
  goOutageAfter,
  KV_CONTAINER,
  kvHostPods,
  kvServedAt,
} from "../test/e2e/go-host.ts";
import { freshNamespace } from "../test/e2e/pods.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { percentile } from "./lib.ts";

const ROUNDS = Number(process.env.BENCH_KUBELET_ROUNDS ?? 20);
/** Host pods per generation and kind: each pod's plugin is killed once, then the pods are replaced. */
const REPLICAS = 3;
/** A patient liveness probe: on a loaded machine the example's 1 s × 3 restarts plugins the bench did not kill. */
const LIVENESS = { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 6 };

type Kind = "go" | "ts";
const HOSTS: Record<Kind, { ns: string; label: string; title: string }> = {
  go: { ns: "podplug-bench-kubelet", label: "app=go-host", title: "Go host (sdk/go), calls every 0.1 s" },
  ts: {
    ns: "podplug-bench-kubelet-ts",
    label: "app=demo-host",
    title: "TS host (Client, fail-fast), calls every 0.05 s",
  },
};

const hostPods = (c: E2ECluster, kind: Kind): Promise<PodJson[]> =>
  kvHostPods(c, HOSTS[kind].ns, HOSTS[kind].label, REPLICAS);

/** Seconds, each from the kill unless said otherwise. */
interface Recovery {
  kind: Kind;
  /** The host's first failed call after the kill to its next successful one (its outage). */
  calls: number;
  /** To the API showing the plugin running again. */
  running: number;
  /** From the kubelet's stop to the host's first failed call. */
  kubelet: number;
  /** To the restarted plugin serving (its handshake line's CRI timestamp): the kubelet's part. */
  served: number;
  /** From the restarted plugin serving to the host's next successful call: the host's part. */
  reconnect: number;
  /** From the restarted plugin serving to the host's record that it attached again (the rest is the first call). */
  attached: number;
}

/** The record each host logs once it has attached to the restarted plugin. */
const ATTACHED: Record<Kind, string> = { go: "attached", ts: "re-attached to the plugin" };

/** When the host of pod `name` logged that it attached after `since` (epoch ms), from its log. */
async function attachedAfter(c: E2ECluster, kind: Kind, name: string, since: number): Promise<number> {
  const out = await kubectlOk(c, ["-n", HOSTS[kind].ns, "logs", name, "-c", "host", "--tail=5000"]);
  for (const l of out.split("\n")) {
    if (!l.startsWith("{") || !l.includes(`"msg":"${ATTACHED[kind]}"`)) continue;
    const t = (JSON.parse(l) as { time: number }).time;
    if (t > since) return t;
  }
  throw new Error(`the host of ${HOSTS[kind].ns}/${name} logged no "${ATTACHED[kind]}" after its good call`);
}

/** The host's outage after `since`, as epoch ms, read from its own log. */
async function outage(
  c: E2ECluster,
  kind: Kind,
  name: string,
  since: number,
): Promise<{ failed: number; back: number }> {
  const o =
    kind === "go"
      ? await goOutageAfter(c, HOSTS.go.ns, name, since, 1000)
      : await callerOutageAfter(c, HOSTS.ts.ns, name, since, 1000);
  return { failed: o.failed.time, back: o.back.time };
}

/**
 * The moment the API shows the kv sidecar of pod `p` running again after one restart, as the bench sees
 * it: a `kubectl get --watch`, one process for the whole wait rather than a kubectl every poll (which loaded
 * the machine enough to move the very tails measured). `listening` resolves once the watch printed the
 * current state, so that nothing after it is missed.
 */
function watchRunningAgain(
  ns: string,
  p: PodJson,
  stop: AbortSignal,
): { listening: Promise<unknown>; running: Promise<number> } {
  const name = p.metadata.name;
  // By index: a watch whose jsonpath filters (`[?(@.name==…)]`) prints the first state and nothing after
  // (kubectl v1.32). The kubelet keeps the statuses in the spec's order.
  const i = (p.status.initContainerStatuses ?? []).findIndex((x) => x.name === KV_CONTAINER);
  if (i < 0) throw new Error(`${ns}/${name} has no ${KV_CONTAINER} sidecar status`);
  let first!: () => void;
  const printed = new Promise<void>((r) => {
    first = r;
  });
  let seen: number | undefined;
  const lines: string[] = [];
  const s = `.status.initContainerStatuses[${i}]`;
  const path = `{${s}.name} {${s}.restartCount} {${s}.state}{"\\n"}`;
  const ended = node.kubectlLines(
    ["-n", ns, "get", "pod", name, "--watch", "-o", `jsonpath=${path}`],
    (l) => {
      first();
      lines.push(l);
      if (seen === undefined && l.startsWith(`${KV_CONTAINER} 1 {"running"`)) seen = Date.now();
    },
    stop,
    120_000,
  );
  const running = waitFor(`${KV_CONTAINER} of ${ns}/${name} running again (a watch)`, () => seen, 90_000, 20).catch(
    async (err: Error) => {
      const r = await Promise.race([ended, Promise.resolve(undefined)]);
      err.message += `\nthe watch printed: ${JSON.stringify(lines.slice(-10))}${r ? `; it ended ${r.code}: ${r.stderr}` : ""}`;
      throw err;
    },
  );
  // Awaited by the caller after the kill; a failure before then must not surface unhandled.
  running.catch(() => {});
  return { listening: Promise.race([printed, ended]), running };
}

/**
 * SIGKILLs the kv plugin of pod `name`, after a kubelet restart if asked, and measures the recovery;
 * undefined when the plugin has restarted already (a liveness restart under load: a kill now would wait
 * out the back-off).
 */
async function killAndRecover(
  c: E2ECluster,
  kind: Kind,
  name: string,
  restartKubelet: boolean,
): Promise<Recovery | undefined> {
  const ns = HOSTS[kind].ns;
  const p = await pod(c, ns, name);
  const s = status(p, KV_CONTAINER);
  if (s.restartCount !== 0 || !s.containerID) return undefined;
  const stop = new AbortController();
  try {
    const watch = watchRunningAgain(ns, p, stop.signal);
    await watch.listening;
    const tStop = Date.now();
    if (restartKubelet) await c.restartKubelet(p.spec.nodeName);
    const tk = Date.now();
    await c.signalContainer(p.spec.nodeName, s.containerID, "SIGKILL");
    // Both watched at once: the host may be back before the kubelet's status reaches the API, or after.
    // The outage is read from the host's own log (under load `ctr` may take a while to deliver the
    // signal), once a second: its times are the host's, so reading it more often changes nothing.
    const [o, running] = await Promise.all([outage(c, kind, name, tk), watch.running]);
    // The host's good call needs the new process, so its log is there by now.
    const served = await kvServedAt(c, ns, name);
    if (served === undefined)
      throw new Error(`${KV_CONTAINER} of ${ns}/${name} serves again but its log has no handshake line`);
    const attached = await attachedAfter(c, kind, name, tk);
    return {
      kind,
      attached: (attached - served) / 1000,
      calls: (o.back - o.failed) / 1000,
      running: (running - tk) / 1000,
      kubelet: (o.failed - tStop) / 1000,
      served: (served - tk) / 1000,
      reconnect: (o.back - served) / 1000,
    };
  } finally {
    stop.abort();
  }
}

const line = (what: string, xs: number[]): void =>
  console.log(
    `    ${what}: median ${percentile(xs, 50).toFixed(3)} s, p99 ${percentile(xs, 99).toFixed(3)} s (n=${xs.length})`,
  );

console.log("\nkubelet process restart → host reconnected (test/node; TS kv plugin; a Go host and a TS host)");
await RealNode.reapStale();
// Only the images this bench runs: each import costs seconds.
const images = [
  ...nodeImages(),
  ...readImageIndex(projectImageIndex(), "make images").filter((i) =>
    ["podplug", "example-kv", "example-go-host", "example-demo-host"].some((n) => i.ref.includes(`/${n}:`)),
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
  const restricted = { "pod-security.kubernetes.io/enforce": "restricted" };
  await freshNamespace(c, HOSTS.go.ns, restricted);
  await freshNamespace(c, HOSTS.ts.ns, restricted);
  await kubectlOk(c, ["-n", HOSTS.go.ns, "apply", "-f", "-"], goHostPlugin(LIVENESS));
  await kubectlOk(c, ["-n", HOSTS.go.ns, "apply", "-f", "-"], goHost(REPLICAS, "100ms"));
  // The demo's kv Plugin alone (the caller attaches to nothing else) and kvCaller as the demo host.
  const kv = demoPlugins().filter((d) => d.metadata.name === "kv");
  for (const d of kv) d.spec.probes = { liveness: LIVENESS };
  await kubectlOk(c, ["-n", HOSTS.ts.ns, "apply", "-f", "-"], yamlOf(kv));
  const caller = shippedHost();
  (caller.spec as { replicas?: number }).replicas = REPLICAS;
  caller.spec.template.spec.containers[0]!.command = ["node", "--input-type=module", "-e", kvCaller()];
  await kubectlOk(c, ["-n", HOSTS.ts.ns, "apply", "-f", "-"], stringify(caller));

  const base: Recovery[] = [];
  const afterKubelet: Recovery[] = [];
  const rounds = { go: { base: 0, kubelet: 0 }, ts: { base: 0, kubelet: 0 } };
  const done = (k: Kind): boolean => rounds[k].base >= ROUNDS && rounds[k].kubelet >= ROUNDS;
  let skipped = 0;
  while (!done("go") || !done("ts")) {
    const gen = { go: await hostPods(c, "go"), ts: await hostPods(c, "ts") };
    for (const p of gen.go) await goCallSucceedsAfter(c, HOSTS.go.ns, p.metadata.name, 0);
    // One kill at a time, the kinds and the round types interleaved so that all see the same load.
    for (let i = 0; i < REPLICAS; i++)
      for (const kind of ["go", "ts"] as const) {
        const r = rounds[kind];
        if (done(kind)) continue;
        const kubelet = r.base >= ROUNDS || (r.kubelet < ROUNDS && r.kubelet <= r.base);
        const rec = await killAndRecover(c, kind, gen[kind][i]!.metadata.name, kubelet);
        if (!rec) skipped++;
        else {
          r[kubelet ? "kubelet" : "base"]++;
          (kubelet ? afterKubelet : base).push(rec);
        }
      }
    for (const k of ["go", "ts"] as const)
      await kubectlOk(c, ["-n", HOSTS[k].ns, "delete", "pods", "-l", HOSTS[k].label, "--wait=false"]);
    await waitFor(
      "fresh host pods",
      async () => {
        const next = { go: await hostPods(c, "go"), ts: await hostPods(c, "ts") };
        return (["go", "ts"] as const).every((k) =>
          next[k].every((q) => gen[k].every((o) => o.metadata.name !== q.metadata.name)),
        );
      },
      180_000,
      500,
    );
  }
  for (const k of ["go", "ts"] as const) {
    const b = base.filter((r) => r.kind === k);
    const a = afterKubelet.filter((r) => r.kind === k);
    const of = (rs: Recovery[], f: Exclude<keyof Recovery, "kind">): number[] => rs.map((r) => r[f]);
    console.log(`  ${HOSTS[k].title}; SIGKILL of its plugin process:`);
    console.log("  the host's part: the restarted plugin serving → the host's next successful call (goal ≤ 0.200 s)");
    line("after a kubelet restart", of(a, "reconnect"));
    line("without one (baseline)", of(b, "reconnect"));
    line("of which, serving → the host's record that it attached again", of(a, "attached"));
    line("the same without a kubelet restart", of(b, "attached"));
    const slowest = [...a, ...b].sort((x, y) => y.reconnect - x.reconnect).slice(0, 3);
    console.log(
      `      the slowest of all ${a.length + b.length} (serving → attached + attached → good call): ${slowest
        .map((r) => `${r.reconnect.toFixed(3)} s (${r.attached.toFixed(3)} + ${(r.reconnect - r.attached).toFixed(3)})`)
        .join(", ")}`,
    );
    console.log("  the kubelet's part: kill → the restarted plugin serving (its handshake line's CRI timestamp)");
    line("after a kubelet restart", of(a, "served"));
    line("without one (baseline)", of(b, "served"));
    console.log("  the host's outage: its first failed call → its next successful one");
    line("after a kubelet restart", of(a, "calls"));
    line("without one (baseline)", of(b, "calls"));
    console.log(
      `      ratio of medians after-restart/baseline: ${(percentile(of(a, "calls"), 50) / percentile(of(b, "calls"), 50)).toFixed(2)}`,
    );
    line(
      "the same after a kubelet restart, counted from the kubelet's stop",
      a.map((r) => r.calls + r.kubelet),
    );
    console.log("  kill → the API shows the plugin running again (a watch)");
    line("after a kubelet restart", of(a, "running"));
    line("without one (baseline)", of(b, "running"));
  }
  console.log(
    `  (${((Date.now() - started) / 1000).toFixed(0)} s for ${ROUNDS} rounds of each, node up excluded; ${skipped} kills skipped: that plugin had restarted before its round)`,
  );
} finally {
  await node.down();
}
