/** A plugin's output lines into the host's log are bounded in rate; a well-behaved plugin loses none. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readLines } from "../../src/process/lines.ts";
import { LOG_LINE_RATE, logOutputLine, type OutputState } from "../../src/process/output.ts";
import { captureLogger, NODE } from "../helpers.ts";

/** Runs a real child that writes `count` stderr lines as fast as it can; logs them as the host SDK does. */
async function flood(count: number): Promise<{ records: Record<string, unknown>[]; state: OutputState }> {
  const { logger, records } = captureLogger("debug");
  const state: OutputState = { inPanic: false };
  const child = spawn(
    NODE,
    [
      "-e",
      `const l = "line of a chatty plugin\\n".repeat(1000); for (let i = 0; i < ${count / 1000}; i++) process.stderr.write(l);`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const ended = new Promise((r) => child.stderr!.once("end", r));
  const exited = new Promise((r) => child.once("exit", r));
  readLines(child.stderr!, (l) => logOutputLine(logger, l, "stderr", state, "debug"));
  await Promise.all([ended, exited]);
  return { records, state };
}

describe("plugin log rate", function () {
  this.timeout(120_000);

  it("a plugin printing 200,000 lines at once: the burst and the rate are logged, the rest counted in PLUGIN_LOG_RATE warnings", async () => {
    const total = 200_000;
    const { records, state } = await flood(total);
    const lines = records.filter((r) => r.msg === "line of a chatty plugin");
    const warnings = records.filter((r) => r.code === "PLUGIN_LOG_RATE");
    const reported = warnings.reduce((n, r) => n + (r.dropped as number), 0);
    assert.ok(lines.length >= LOG_LINE_RATE.burst, `the burst is logged: ${lines.length}`);
    assert.ok(lines.length < total, "not every line of the flood reaches the log");
    // Every line is accounted for: logged, reported dropped, or dropped since the last report.
    assert.equal(lines.length + reported + (state.rate?.dropped ?? 0), total);
    for (const w of warnings) {
      assert.equal(w.level, 40);
      assert.equal(w.stream, "stderr");
      assert.match(String(w.msg), /lines were not logged/);
    }
  });

  it("a plugin printing within its burst loses no line", async () => {
    const { records, state } = await flood(5000);
    assert.equal(records.filter((r) => r.msg === "line of a chatty plugin").length, 5000);
    assert.equal(records.filter((r) => r.code === "PLUGIN_LOG_RATE").length, 0);
    assert.equal(state.rate?.dropped, 0);
  });
});
