/**
 * `make bench`: every benchmark in one run, on one machine, printed as ratios
 * to baselines measured in the same run.
 */
import { report } from "./lib.ts";
import { coreFigures } from "./sdk.ts";

console.log(`podplug benchmarks — Node ${process.version}, ${new Date().toISOString()}`);
const [raw, plain, ts] = await coreFigures();
report("Protocol core: host → plugin calls over a Unix socket", plain!, [raw!, plain!, ts!]);

const { recoveryFigures } = await import("./recovery.ts");
const rec = await recoveryFigures();
console.log(`\nRecovery: SIGKILL → first successful call on the same client, over ${rec.kills} kills (back-off 100 ms)`);
console.log(`  median ${rec.medianMs.toFixed(0)} ms, p99 ${rec.p99Ms.toFixed(0)} ms; a cold start of the same plugin takes ${rec.coldStartMs.toFixed(0)} ms (ratio median/cold ${(rec.medianMs / rec.coldStartMs).toFixed(2)})`);
