/**
 * What the engine's limits (issue 14) cost: PodplugChannel -> PodplugServer on
 * podplug's engine, small unary calls (bench/transport.ts's pairing), run from
 * this tree and from a baseline tree without the limits (a git worktree of
 * `--baseline`, default the commit the limits were built on), interleaved in
 * one run so drift hits both alike, beside grpc-go (go-plugin's Go host
 * calling its Go plugin, kv Get over the same kind of socket, in the same
 * rounds). Prints each side's medians, the load average, and the ratios this ÷
 * baseline (throughput, client and server CPU per call: the limits must cost
 * at most 5 % of the throughput) and this ÷ grpc-go.
 *
 *   node bench/limits.ts [--runs 5] [--baseline <git ref>] [--no-go]   (BENCH_SEQ, BENCH_CALLS as in bench/lib.ts)
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { goToGo } from "./go-peers.ts";

const ROOT = join(import.meta.dirname, "..");
/** The last commit before the engine's limits: their cost is measured against it. */
const DEFAULT_BASELINE = "995ee41";

interface Result {
  medianUs: number;
  callsPerSec: number;
  clientCpuUs: number;
  serverCpuUs: number;
}

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const runs = Number(opt("runs", "5"));
const baseline = opt("baseline", DEFAULT_BASELINE);
const withGo = !args.includes("--no-go");

function child(tree: string, argv: string[]): ChildProcess {
  return spawn(process.execPath, [join(tree, "bench/transport.ts"), ...argv], { stdio: ["pipe", "pipe", "inherit"] });
}

/** One pairing, both processes from `tree` (bench/transport.ts's --serve and --call). */
async function pairing(tree: string, dir: string): Promise<Result> {
  const path = join(dir, "p.sock");
  const srv = child(tree, ["--serve", "podplug", path]);
  try {
    const lines = createInterface({ input: srv.stdout! })[Symbol.asyncIterator]();
    await lines.next(); // ready
    const cli = child(tree, ["--call", "podplug", path]);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: cli.stdout! }).once("line", resolve);
      cli.once("exit", (code) => reject(new Error(`client exited with ${code}`)));
    });
    const r = JSON.parse(line) as Result & { serverCpuUs: number };
    srv.stdin!.write("cpu\n");
    const calls = 1000 + Number(process.env.BENCH_SEQ ?? 4000) + Number(process.env.BENCH_CALLS ?? 30000);
    r.serverCpuUs = Number((await lines.next()).value) / calls;
    return r;
  } finally {
    srv.stdin!.end();
    srv.kill();
    rmSync(path, { force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const base = mkdtempSync(join(tmpdir(), "ppb-limits-"));
const baseTree = join(base, "tree");
execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", "--quiet", baseTree, baseline]);
try {
  symlinkSync(join(ROOT, "node_modules"), join(baseTree, "node_modules"));
  const sides: [string, string][] = [
    [`baseline ${baseline}`, baseTree],
    ["this tree (with limits)", ROOT],
  ];
  const all = new Map<string, Result[]>();
  const go: { medianUs: number; callsPerSec: number }[] = [];
  const loads: number[] = [];
  for (let r = 0; r < runs; r++) {
    loads.push(loadavg()[0]!);
    for (const [name, tree] of r % 2 === 0 ? sides : [...sides].reverse())
      all.set(name, [...(all.get(name) ?? []), await pairing(tree, base)]);
    if (withGo) {
      const f = await goToGo();
      go.push({ medianUs: f.medianUs, callsPerSec: f.throughput });
    }
  }
  const m = (name: string, k: keyof Result): number => median(all.get(name)!.map((x) => x[k]));
  console.log(
    `Transport limits' cost: PodplugChannel -> PodplugServer, small unary; medians of ${runs} runs each; load average ${loads.map((l) => l.toFixed(1)).join(", ")}`,
  );
  console.log(
    `${"side".padEnd(28)} ${"median µs".padStart(9)} ${"calls/s".padStart(8)} ${"cli CPU µs".padStart(10)} ${"srv CPU µs".padStart(10)}`,
  );
  for (const [name] of sides)
    console.log(
      `${name.padEnd(28)} ${m(name, "medianUs").toFixed(0).padStart(9)} ${m(name, "callsPerSec").toFixed(0).padStart(8)} ${m(name, "clientCpuUs").toFixed(1).padStart(10)} ${m(name, "serverCpuUs").toFixed(1).padStart(10)}`,
    );
  const goMedian = withGo ? median(go.map((g) => g.medianUs)) : Number.NaN;
  const goRate = withGo ? median(go.map((g) => g.callsPerSec)) : Number.NaN;
  if (withGo)
    console.log(
      `${"grpc-go (go-plugin Go→Go)".padEnd(28)} ${goMedian.toFixed(0).padStart(9)} ${goRate.toFixed(0).padStart(8)} ${"-".padStart(10)} ${"-".padStart(10)}`,
    );
  const [b, t] = [sides[0]![0], sides[1]![0]];
  const ratio = m(t, "callsPerSec") / m(b, "callsPerSec");
  console.log(
    `ratio this ÷ baseline: throughput ${ratio.toFixed(3)} (${ratio >= 0.95 ? "within" : "OVER"} the 5 % budget), client CPU ${(m(t, "clientCpuUs") / m(b, "clientCpuUs")).toFixed(3)}, server CPU ${(m(t, "serverCpuUs") / m(b, "serverCpuUs")).toFixed(3)}`,
  );
  if (withGo)
    console.log(
      `ratio this ÷ grpc-go: throughput ${(m(t, "callsPerSec") / goRate).toFixed(3)}, median latency ${(m(t, "medianUs") / goMedian).toFixed(3)}`,
    );
} finally {
  execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", baseTree]);
  rmSync(base, { recursive: true, force: true });
}
