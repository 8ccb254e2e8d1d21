/**
 * `make dashboard-picture`: what a user sees on the shipped dashboard, from a
 * real run. Starts the observability scenario (the demo under `podplug run`,
 * the operator on the test kube-apiserver, a real Prometheus), lets it run,
 * SIGKILLs the kv plugin once half-way, then reads every dashboard panel's
 * PromQL over the run with query_range and has tools/dashboard/render.py draw
 * the panels to docs/images/dashboard.png (no Grafana runs here).
 *   node tools/dashboard/picture.ts [seconds]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedCluster, stopSharedCluster } from "../../test/cluster/shared.ts";
import { ROOT } from "../../test/helpers.ts";
import { dashboardExpressions } from "../../test/observability/dashboard.ts";
import { startScenario } from "../../test/observability/scenario.ts";

const seconds = Number(process.argv[2] ?? 120);
const python = process.env.PODPLUG_PLOT_PYTHON ?? "python3";
const out = join(ROOT, "docs/images/dashboard.png");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const scenario = await startScenario(await sharedCluster(), "picture");
const data = join(tmpdir(), `podplug-dashboard-${process.pid}.json`);
try {
  const start = Date.now() / 1000;
  await sleep((seconds / 2) * 1000);
  process.kill(scenario.pid("podplug-kv"), "SIGKILL");
  await sleep((seconds / 2) * 1000);
  const end = Date.now() / 1000;
  const panels: { title: string; unit: string; series: { label: string; points: [number, number][] }[] }[] = [];
  for (const t of dashboardExpressions(undefined, "1m")) {
    const series = (await scenario.prom.queryRange(t.expr, start, end, 2)).map((s) => ({
      label: t.legend.replace(/\{\{(\w+)\}\}/g, (_, k: string) => s.metric[k] ?? ""),
      points: s.values.map(([ts, v]) => [ts - start, v] as [number, number]),
    }));
    const p = panels.find((x) => x.title === t.panel);
    if (p) p.series.push(...series);
    else panels.push({ title: t.panel, unit: t.unit, series });
  }
  writeFileSync(data, JSON.stringify({ seconds, killedAt: seconds / 2, panels }));
  mkdirSync(join(ROOT, "docs/images"), { recursive: true });
  const r = spawnSync(python, [join(ROOT, "tools/dashboard/render.py"), data, out], { stdio: "inherit" });
  if (r.status !== 0)
    throw new Error(`render.py exited ${r.status}: pip install matplotlib (make dashboard-picture does)`);
  console.log(`dashboard picture: ${out} (${panels.length} panels, ${seconds} s run, kv killed at ${seconds / 2} s)`);
} finally {
  rmSync(data, { force: true });
  await scenario.stop();
  await stopSharedCluster();
}
