/**
 * `podplug run --view` with the demo as shipped (its host's port named
 * `metrics`, on a free port here): the live view shows each plugin's calls
 * per second, errors per second and p99, read from the host's own /metrics,
 * and a plugin SIGKILLed shows as errors in its row while the other's stay 0.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../cluster/ports.ts";
import { NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

/** The last full frame the view drew (it clears the screen before each). */
const lastFrame = (out: string): string => out.slice(out.lastIndexOf("\x1b[2J") + 4);

/** The call row of `plugin` in `frame`: calls/s, errors/s, p99 text. */
function row(frame: string, plugin: string): { rate: number; errors: number; p99: string } | undefined {
  const m = new RegExp(`^demo-host\\s+host\\s+${plugin}\\s+(\\d+\\.\\d)\\s+(\\d+\\.\\d)\\s+(\\S+)$`, "m").exec(frame);
  return m ? { rate: Number(m[1]), errors: Number(m[2]), p99: m[3]! } : undefined;
}

describe("observability: podplug run's live view shows per-plugin rate, errors and p99", function () {
  this.timeout(90_000);
  const t = tempDir("pp-live-view-");
  let run: ChildProcess | undefined;
  let out = "";

  after(async () => {
    if (run && run.exitCode === null) {
      run.kill("SIGINT");
      await new Promise((r) => run!.once("close", r));
    }
    t.remove();
  });

  it("from the host's /metrics, and a hung plugin's errors show in its row only", async () => {
    const port = await freePort();
    const demo = join(t.dir, "demo");
    mkdirSync(demo);
    for (const f of ["plugins.yaml", "host.yaml"])
      writeFileSync(
        join(demo, f),
        readFileSync(join(ROOT, "examples/demo", f), "utf8")
          .replace('value: "9465"', `value: "${port}"`)
          .replace("containerPort: 9465", `containerPort: ${port}`),
      );
    run = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "run", "-f", demo, "--view", "--metrics-port=-1"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    run.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.length > 4_000_000) out = out.slice(-1_000_000);
    });
    const first = await waitFor(
      () => {
        const f = lastFrame(out);
        const kv = row(f, "kv");
        const counter = row(f, "counter");
        return kv && counter && kv.rate > 0 && counter.rate > 0 && kv.p99 !== "-" ? { f, kv, counter } : undefined;
      },
      45_000,
      "the view's call rows for kv and counter",
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last frame:\n${lastFrame(out)}`);
    });
    assert.match(first.f, /^POD\s+HOST\s+PLUGIN\s+CALLS\/S\s+ERRORS\/S\s+P99$/m);
    assert.match(first.kv.p99, /^\d+(\.\d+)?(µs|ms|s)$/);
    assert.equal(first.counter.errors, 0);
    // READY may still say no: calls flow before the sidecar's first readiness probe has run.
    const pid = Number(/^demo-host\s+podplug-kv\s+plugin\s+running\s+(?:yes|no)\s+\d+\s+(\d+)/m.exec(first.f)?.[1]);
    assert.ok(Number.isInteger(pid), first.f);
    // Stopped, not killed: a killed plugin is back (warm, at once) before the host's next call, while a hung one
    // fails the calls made to it (keepalive, deadlines) until the runtime's liveness probe restarts it.
    process.kill(pid, "SIGSTOP");
    const after = await waitFor(
      () => {
        const f = lastFrame(out);
        const kv = row(f, "kv");
        return kv && kv.errors > 0 ? { f, kv, counter: row(f, "counter") } : undefined;
      },
      30_000,
      "kv's errors in the view",
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last frame:\n${lastFrame(out)}`);
    });
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // already restarted by the runtime
    }
    assert.equal(after.counter?.errors, 0, after.f);
  });
});
