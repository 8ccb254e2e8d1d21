/**
 * The host's unavailability during a plugin upgrade (issue 13), on the
 * harness's own node (test/node): the same change — Plugin kv's image from
 * example-kv to example-counter (the same kv code in another image) — to
 * the same Go host Deployment (examples/go-host, a kv call every 100 ms),
 * done two ways in one run:
 *
 * - in place (webhook mode): the operator patches each Pod's sidecar image,
 *   one Pod at a time; the kubelet restarts only that sidecar, the host
 *   process stays. Per Pod: its host's failure window, from its first failed
 *   call to its next successful one (its own log, 100 ms resolution).
 * - rollout (template mode): the operator patches the Deployment's template
 *   and the whole Pod rolls (host included). Per new Pod: from the moment the
 *   Pod is first seen (polled every 100 ms) to its new host's first successful
 *   call — the time a host is not serving because it was replaced (the old
 *   Pods' hosts are kept until their replacement is ready: maxUnavailable 0).
 *
 * Timing only: nothing is asserted. Needs root.
 *
 *   node bench/upgrade-outage.ts     BENCH_UPGRADE_REPLICAS (default 3)
 */
import { loadavg } from "node:os";
import { parse, stringify } from "yaml";
import { waitFor } from "../test/cluster/wait.ts";
import { type E2ECluster, kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import { installChart, type PodJson, pods } from "../test/e2e/demo.ts";
import { goCalls, goHost, goHostPlugin, goHostPods, goOutageAfter, KV_CONTAINER } from "../test/e2e/go-host.ts";
import { imageRef, nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { percentile } from "./lib.ts";

const REPLICAS = Number(process.env.BENCH_UPGRADE_REPLICAS ?? 3);
const SYSTEM = "podplug-bench-up-system";
const RELEASE = "podplug-bench-up";

const load = (): string =>
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`;

const fmt = (xs: number[]): string =>
  `p50 ${percentile(xs, 50).toFixed(2)} s, p99 ${percentile(xs, 99).toFixed(2)} s (n=${xs.length}: ${xs.map((x) => x.toFixed(2)).join(", ")})`;

/** The Go host's Plugin with the image `image` and a liveness probe patient enough for a loaded machine. */
function plugin(image: string): string {
  const d = parse(goHostPlugin({ periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 6 })) as {
    spec: { image: string };
  };
  d.spec.image = image;
  return stringify(d);
}

async function install(c: E2ECluster, mode: "webhook" | "template", ns: string): Promise<void> {
  await installChart(c, { release: RELEASE, system: SYSTEM, ns, mode, timeoutS: 150 });
}

async function uninstall(c: E2ECluster, ns: string): Promise<void> {
  await c.helm(["uninstall", RELEASE, "-n", SYSTEM, "--wait"]);
  await c.kubectl(["delete", "namespace", ns, SYSTEM, "--wait=true", "--timeout=120s"], undefined, 130_000);
}

const kvImage = (p: PodJson): string =>
  ((p.spec.initContainers ?? []) as { name: string; image?: string }[]).find((x) => x.name === KV_CONTAINER)?.image ??
  "";

/** In place: per pod, the host's failure window (s), and the whole upgrade's duration (s). */
async function inPlace(c: E2ECluster, from: string, to: string): Promise<{ windows: number[]; total: number }> {
  const ns = "podplug-bench-up-inplace";
  await install(c, "webhook", ns);
  try {
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], plugin(from));
    // The webhook injects at creation: wait until it knows the Plugin, then create the hosts.
    await new Promise((r) => setTimeout(r, 3000));
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], goHost(REPLICAS, "100ms"));
    const before = await goHostPods(c, ns, REPLICAS);
    for (const p of before) await goCalls(c, ns, p.metadata.name);
    await waitFor(
      "every host calling",
      async () => {
        for (const p of before) if (!(await goCalls(c, ns, p.metadata.name)).some((k) => k.ok)) return false;
        return true;
      },
      60_000,
      250,
    );
    const t0 = Date.now();
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], plugin(to));
    const windows = await Promise.all(
      before.map(async (p) => {
        const o = await waitFor(
          `${p.metadata.name} through its upgrade`,
          () => goOutageAfter(c, ns, p.metadata.name, t0),
          240_000,
          500,
        );
        return (o.back.time - o.failed.time) / 1000;
      }),
    );
    await waitFor(
      "every pod on the new image, ready",
      async () => {
        const ps = await goHostPods(c, ns, REPLICAS);
        return ps.every((p) => kvImage(p) === to) ? ps : undefined;
      },
      240_000,
      250,
    );
    const total = (Date.now() - t0) / 1000;
    const after = await pods(c, ns, "app=go-host");
    const same = after.every((p) => before.some((b) => b.metadata.name === p.metadata.name));
    console.log(`  (in place: the same ${REPLICAS} pods after the upgrade: ${same})`);
    return { windows, total };
  } finally {
    await uninstall(c, ns);
  }
}

/** Rollout: per new pod, first seen → its host's first good call (s); the duration (s). */
async function rollout(c: E2ECluster, from: string, to: string): Promise<{ windows: number[]; total: number }> {
  const ns = "podplug-bench-up-rollout";
  await install(c, "template", ns);
  try {
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], plugin(from));
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], goHost(REPLICAS, "100ms"));
    // Template mode: the first pods start without sidecars and are replaced by injected ones.
    const before = await waitFor(
      "injected go-host pods",
      async () => {
        const ps = await goHostPods(c, ns, REPLICAS);
        return ps.every((p) => kvImage(p) === from) ? ps : undefined;
      },
      240_000,
      500,
    );
    await waitFor(
      "every host calling",
      async () => {
        for (const p of before) if (!(await goCalls(c, ns, p.metadata.name)).some((k) => k.ok)) return false;
        return true;
      },
      60_000,
      250,
    );
    const t0 = Date.now();
    await kubectlOk(c, ["-n", ns, "apply", "-f", "-"], plugin(to));
    const firstSeen = new Map<string, number>();
    const old = new Set(before.map((p) => p.metadata.name));
    await waitFor(
      "the rollout done: every pod new, on the new image, ready",
      async () => {
        const ps = (await pods(c, ns, "app=go-host")).filter((p) => !p.metadata.deletionTimestamp);
        for (const p of ps)
          if (!old.has(p.metadata.name) && !firstSeen.has(p.metadata.name)) firstSeen.set(p.metadata.name, Date.now());
        if (ps.length !== REPLICAS || ps.some((p) => old.has(p.metadata.name))) return undefined;
        const ready = await goHostPods(c, ns, REPLICAS).catch(() => undefined);
        return ready?.every((p) => kvImage(p) === to) ? ready : undefined;
      },
      300_000,
      100,
    );
    const total = (Date.now() - t0) / 1000;
    const windows: number[] = [];
    for (const [name, seen] of firstSeen) {
      const ok = await waitFor(
        `${name}: its host's first successful call`,
        async () => (await goCalls(c, ns, name, 5000)).find((k) => k.ok),
        60_000,
        250,
      );
      windows.push((ok.time - seen) / 1000);
    }
    return { windows, total };
  } finally {
    await uninstall(c, ns);
  }
}

console.log(
  `\nplugin upgrade → the host's unavailability (test/node; Go host via sdk/go, TS kv plugin, calls every 100 ms, ${REPLICAS} replicas)`,
);
await RealNode.reapStale();
const images = [
  ...nodeImages(),
  ...readImageIndex(projectImageIndex(), "make images").filter((i) =>
    ["podplug", "example-kv", "example-counter", "example-go-host"].some((n) => i.ref.includes(`/${n}:`)),
  ),
];
const node = new RealNode();
await node.up(images);
const c = new NodeCluster(node, images);
try {
  const from = imageRef(images, "ghcr.io/podplug/example-kv:");
  const to = imageRef(images, "ghcr.io/podplug/example-counter:");
  console.log(`  load before: ${load()}`);
  const a = await inPlace(c, from, to);
  console.log(`  load after the in-place run: ${load()}`);
  const b = await rollout(c, from, to);
  console.log(`  load after the rollout run: ${load()}`);
  console.log(
    `  in place (webhook mode): each host's failure window (first failed call → next good one): ${fmt(a.windows)}`,
  );
  console.log(`    whole upgrade, apply → every pod ready on the new image: ${a.total.toFixed(1)} s; host restarts: 0`);
  console.log(
    `  rollout (template mode): each new pod's host, pod first seen → its first good call: ${fmt(b.windows)}`,
  );
  console.log(
    `    whole rollout: ${b.total.toFixed(1)} s; every host process replaced (each old one stopped once its replacement was ready)`,
  );
  console.log(
    `  ratio of medians in-place/rollout: ${(percentile(a.windows, 50) / percentile(b.windows, 50)).toFixed(2)}, of p99s: ${(percentile(a.windows, 99) / percentile(b.windows, 99)).toFixed(2)}`,
  );
} finally {
  await node.down();
}
