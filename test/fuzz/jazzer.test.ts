/**
 * A short coverage-guided run of every jazzer.js target (test/fuzz/jazzer/):
 * its committed corpus replayed, then PODPLUG_JAZZER_RUNS inputs in all
 * (default 5,000), bounded by count. A finding fails the test and prints the
 * input's file and bytes; so does a fuzzer that cannot start (the glibc of
 * tools/fetch-fuzz-libc.sh missing: make test-deps installs it) or one whose
 * instrumentation no longer reaches src/ (no coverage counted). `make fuzz`
 * runs a million inputs per target (test/fuzz/jazzer/fuzz.ts).
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { corpusDir, fuzzTarget, notStarted, TARGETS } from "./jazzer/run.ts";

const RUNS = Number(process.env.PODPLUG_JAZZER_RUNS ?? 5000);

describe("coverage-guided fuzzing (jazzer.js), a short run of each target", function () {
  this.timeout(600_000);

  it("the harness: coverage guidance finds the canary's one crashing input, and the run reports its file", async () => {
    // A fixed seed: the same mutations each run, so the bound on inputs is never luck.
    const r = await fuzzTarget("canary", {
      runs: 200_000,
      includes: [join(import.meta.dirname, "jazzer", "canary.ts")],
      libfuzzer: ["-seed=1"],
    });
    try {
      const why = notStarted(r);
      if (why) assert.fail(why);
      assert.equal(r.findings.length, 1, `no finding reported:\n${r.output.slice(-4000)}`);
      assert.match(r.findings[0]!.bytes.toString("latin1"), /^FUZZ/);
      assert.match(r.output, /the canary: input starts FUZZ/);
      assert.notEqual(r.exitCode, 0);
    } finally {
      r.remove();
    }
  });

  for (const target of TARGETS) {
    it(`${target}: the corpus and ${RUNS} inputs, no finding`, async () => {
      const seeds = readdirSync(corpusDir(target)).length;
      assert.ok(seeds >= 3, `${corpusDir(target)} holds ${seeds} inputs`);
      const r = await fuzzTarget(target, { runs: RUNS });
      try {
        const why = notStarted(r);
        if (why) assert.fail(why);
        const found = r.findings
          .map(
            (f) => `${f.file} (${f.bytes.length} bytes): ${JSON.stringify(f.bytes.toString("latin1").slice(0, 300))}`,
          )
          .join("\n");
        assert.equal(
          r.findings.length,
          0,
          `jazzer found ${r.findings.length} crashing input(s):\n${found}\n${r.output.slice(-6000)}`,
        );
        assert.equal(r.exitCode, 0, `jazzer exited ${r.exitCode}:\n${r.output.slice(-6000)}`);
        assert.equal(r.runs, RUNS, `ran ${r.runs} inputs`);
        // Coverage counted in src/ proves the instrumentation reached the TypeScript sources.
        assert.ok(
          r.cov > 0,
          `no coverage counted in src/: jazzer's ESM hook did not instrument it\n${r.output.slice(-3000)}`,
        );
      } finally {
        r.remove();
      }
    });
  }
});
