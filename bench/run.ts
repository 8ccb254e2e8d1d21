/**
 * `make bench`: every benchmark in one run, on one machine, printed as ratios
 * to baselines measured in the same run. Timing lives here, never in tests.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { goPeersBench } from "./go-peers.ts";
import { report } from "./lib.ts";
import { printRecovery, standbyRecoveryFigures } from "./recovery.ts";
import { coreFigures } from "./sdk.ts";

console.log(`podplug benchmarks — Node ${process.version}, ${new Date().toISOString()}`);

const [raw, plain, ts] = await coreFigures();
report("Protocol core: host → plugin calls over a Unix socket", plain!, [raw!, plain!, ts!]);

// The go-plugin race (issue 12): every pairing in 3 interleaved rounds, each ratio with its load average.
await goPeersBench(3);

printRecovery(await standbyRecoveryFigures());

// The transport and operator benchmarks run in their own processes (they start servers and a test cluster).
// One that fails does not stop the others, but fails the run.
const failed: string[] = [];
for (const [script, args] of [
  ["transport.ts", ["--runs", "1"]],
  ["limits.ts", ["--runs", "3"]],
  ["attacks.ts", []],
  ["operator.ts", []],
  ["webhook.ts", []],
  ["launcher.ts", []],
  ["tracing.ts", []],
  ["node.ts", []],
  ["kubelet-restart.ts", []],
  ["upgrade-outage.ts", []],
] as const) {
  console.log("");
  const r = spawnSync(process.execPath, [join(import.meta.dirname, script), ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.log(`(bench/${script} exited ${r.status ?? r.signal})`);
    failed.push(script);
  }
}
if (failed.length > 0) {
  console.log(`\nmake bench: ${failed.length} benchmark(s) failed: ${failed.map((s) => `bench/${s}`).join(", ")}`);
  process.exitCode = 1;
}
