/**
 * `make fuzz`: PODPLUG_JAZZER_RUNS inputs (default 1,000,000) of each jazzer.js
 * target, or of the targets named as arguments, one after the other; prints
 * inputs, exec/s, coverage counters and findings per target, and exits 1 on a
 * finding (its file is kept and named). With PODPLUG_FUZZ_MERGE=1 the inputs
 * that added coverage are merged into the committed corpus (-merge=1).
 *   node test/fuzz/jazzer/fuzz.ts [target...]
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpusDir, fuzzTarget, mergeInto, notStarted, TARGETS, type Target } from "./run.ts";

const runs = Number(process.env.PODPLUG_JAZZER_RUNS ?? 1_000_000);
const merge = process.env.PODPLUG_FUZZ_MERGE === "1";
const names = process.argv.slice(2);
for (const n of names)
  if (!(TARGETS as readonly string[]).includes(n)) throw new Error(`no fuzz target ${n}: ${TARGETS.join(", ")}`);
const targets = (names.length > 0 ? names : TARGETS) as Target[];
const kept = mkdtempSync(join(tmpdir(), "pfz-findings-"));
let failed = false;

for (const target of targets) {
  const r = await fuzzTarget(target, { runs });
  const why = notStarted(r);
  if (why) {
    r.remove();
    console.error(why);
    process.exit(2);
  }
  for (const f of r.findings) {
    const to = join(kept, `${target}-${f.file.split("/").pop()}`);
    cpSync(f.file, to);
    console.error(`${target}: finding ${to}\n${r.output.slice(-4000)}`);
  }
  if (r.findings.length > 0 || r.exitCode !== 0) failed = true;
  if (merge && r.findings.length === 0) {
    await mergeInto(target, r.newInputs);
    const dir = corpusDir(target);
    const files = readdirSync(dir);
    const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    console.log(`${target}: corpus now ${files.length} files, ${bytes} bytes`);
  }
  console.log(
    `${target}: ${r.runs} inputs in ${r.seconds.toFixed(0)} s (${r.execPerSec} exec/s), cov ${r.cov}, ft ${r.ft}, ` +
      `corpus ${r.corpusEntries}, findings ${r.findings.length}, exit ${r.exitCode}`,
  );
  r.remove();
}
if (!failed) rmSync(kept, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
