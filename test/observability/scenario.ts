/**
 * What a user runs, scraped by a real Prometheus: `podplug run` with the demo
 * (runtime and host metrics) and the operator reconciling a Plugin on the
 * test kube-apiserver, with the shipped rules loaded. Shared by
 * scrape.test.ts and tools/dashboard-picture.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestCluster } from "../cluster/cluster.ts";
import { NODE, ROOT, tempDir, waitFor } from "../helpers.ts";
import {
  createNamespace,
  hostDeployment,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  startOperator,
  yaml,
} from "../operator/helpers.ts";
import { Prometheus } from "./prometheus.ts";

export const RULES = join(ROOT, "charts/podplug/files/prometheus-rules.yaml");

/** A running scenario. */
export interface Scenario {
  prom: Prometheus;
  /** podplug run's stdout so far (pino JSON lines). */
  output(): string;
  /** The pid of plugin container `container` (e.g. podplug-kv), from the runtime's log. */
  pid(container: string): number;
  stop(): Promise<void>;
}

const target = (url: string): string => new URL(url).host;

/** Starts the demo, the operator in namespace `ns` of `cluster`, and Prometheus scraping all three. */
export async function startScenario(cluster: TestCluster, ns: string): Promise<Scenario> {
  const t = tempDir("pp-observe-");
  let run: ChildProcess | undefined;
  let op: OperatorHandle | undefined;
  let prom: Prometheus | undefined;
  let out = "";
  const stop = async (): Promise<void> => {
    await prom?.stop();
    await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]);
    await op?.stop();
    if (run && run.exitCode === null) {
      run.kill("SIGINT");
      await new Promise((r) => run!.once("close", r));
    }
    t.remove();
  };
  try {
    // The demo as shipped, its host's metrics on any free port.
    const demo = join(t.dir, "demo");
    mkdirSync(demo);
    for (const f of ["plugins.yaml", "host.yaml"])
      writeFileSync(
        join(demo, f),
        readFileSync(join(ROOT, "examples/demo", f), "utf8").replace('value: "9465"', 'value: "0"'),
      );
    run = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "run", "-f", demo, "--no-view", "--metrics-port", "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    run.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const runtime = await waitFor(() => /"metricsUrl":"([^"]+)"/.exec(out)?.[1], 30_000, "podplug run's metrics URL");
    const host = await waitFor(
      () => /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)","msg":"metrics"/.exec(out)?.[1],
      30_000,
      "the demo host's metrics URL",
    );
    await installCrd(cluster);
    await createNamespace(cluster, ns);
    op = await startOperator(
      cluster,
      ["--leader-elect=false", `--watch-namespaces=${ns}`],
      cluster.kubeconfig,
      `operator-${ns}`,
    );
    await cluster.kubectlOk(
      ["apply", "-n", ns, "-f", "-"],
      yaml(pluginManifest("kv"), hostDeployment("web", { "podplug.io/host": "kv" })),
    );
    prom = await Prometheus.start(
      [
        { job: "podplug-local", targets: [target(runtime)] },
        { job: "demo-host", targets: [target(host)] },
        { job: "podplug-operator", targets: [target(op.metricsUrl)] },
      ],
      [RULES],
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const p = prom;
  return {
    prom: p,
    output: () => out,
    pid: (container) =>
      Number(new RegExp(`"container":"${container}","plugin":"[^"]+","pid":(\\d+)`).exec(out)?.[1] ?? Number.NaN),
    stop,
  };
}
