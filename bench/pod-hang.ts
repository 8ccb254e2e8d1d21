/**
 * Hang → back on the harness's node, alone (issue 19): the demo's Plugins with
 * the injected default probes (BENCH_HANG_PROBES=demo keeps the demo's own),
 * two demo hosts, BENCH_HANG_N SIGSTOPs (default 10) of a whole plugin
 * container and of the plugin process alone under its launcher
 * (BENCH_HANG_HOW=container,plugin), and where each hang's time went (bench/pod-timings.ts), read
 * from the kubelet's log, the plugin's and the host's. bench/node.ts runs the
 * same hangs among its other figures. Needs root.
 *
 *   node bench/pod-hang.ts
 */
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { kubectlOk, NodeCluster } from "../test/e2e/cluster.ts";
import { demoPlugins, hostPods, NS, REPO, restrictedHost, yamlOf } from "../test/e2e/demo.ts";
import { freshNamespace } from "../test/e2e/pods.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../test/node/images.ts";
import { RealNode } from "../test/node/node.ts";
import { percentile } from "./lib.ts";
import { type HangSteps, hangFigures } from "./pod-timings.ts";

const N = Number(process.env.BENCH_HANG_N ?? 10);
const line = (what: string, xs: number[]): void => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  console.log(
    `  ${what}: median ${percentile(ok, 50).toFixed(2)} s, p99 ${percentile(ok, 99).toFixed(2)} s, min ${Math.min(...ok).toFixed(2)} s (n=${ok.length})`,
  );
};
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

console.log(`\nHang → back on the real node, ${N} SIGSTOPs; load average before: ${load()}`);
await RealNode.reapStale();
const images = [...nodeImages(), ...readImageIndex(projectImageIndex(), "make images")];
const node = new RealNode();
await node.up(images);
const c = new NodeCluster(node, images);
try {
  await kubectlOk(c, ["create", "namespace", "podplug-system"]);
  const h = await c.helm(["install", "podplug", resolve(REPO, "charts/podplug"), "-n", "podplug-system", "--wait"]);
  if (h.code !== 0) throw new Error(h.stderr);
  await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  const plugins = demoPlugins();
  if (process.env.BENCH_HANG_PROBES !== "demo") for (const p of plugins) delete p.spec.probes;
  console.log(
    `  probes: ${process.env.BENCH_HANG_PROBES === "demo" ? "examples/demo/plugins.yaml's" : "the injected defaults"}`,
  );
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(plugins));
  await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], restrictedHost());
  await hostPods(c, ["podplug-kv", "podplug-counter"]);
  const modes = (process.env.BENCH_HANG_HOW ?? "container,plugin").split(",") as ("container" | "plugin")[];
  for (const how of modes) {
    const hang = await hangFigures(c, N, Math.min(N, 5), 300_000, how);
    const step = (k: keyof HangSteps): number[] => hang.steps.map((x) => x[k]);
    console.log(
      how === "container"
        ? "  SIGSTOP of a whole plugin container (every process in it, the launcher too) →"
        : "  SIGSTOP of the plugin process alone (its launcher running, which kills it on the kubelet's SIGTERM) →",
    );
    line("the host's first failed call to it", hang.failed);
    line("the kubelet logs a failed liveness probe", step("probeFailed"));
    line("the kubelet kills it (Killing container with a grace period)", step("killing"));
    line("the restarted container's first output", step("started"));
    line("its plugin serves (handshake line)", step("serving"));
    line("the API shows it running again", hang.restarted);
    line("the host logs re-attached", step("reattached"));
    line("the host's calls succeed again", hang.recovered);
    if (hang.cut || hang.stuck) console.log(`  ${hang.cut ?? ""} ${hang.stuck ? `${hang.stuck} stuck` : ""}`);
  }
  console.log(`  load average after: ${load()}`);
} finally {
  await node.down();
}
