/**
 * `make bench`: every benchmark in one run, on one machine, printed as ratios
 * to baselines measured in the same run.
 */
import { report } from "./lib.ts";
import { coreFigures } from "./sdk.ts";

console.log(`podplug benchmarks — Node ${process.version}, ${new Date().toISOString()}`);
const [raw, plain, ts] = await coreFigures();
report("Protocol core: host → plugin calls over a Unix socket", plain!, [raw!, plain!, ts!]);
