/**
 * go-plugin interop benchmarks: the Go → Go reference (go-plugin host and
 * plugin, both real Go, built by tools/build-go-peers.sh), Go host → TS
 * plugin, TS host → Go plugin and TS host → TS plugin (with and without the
 * host's call metrics). The plugins answer kv Get from memory
 * (test/go/cmd/goplugin, bench/bench-plugin.ts), so the figures compare the
 * stacks, not the plugins' work.
 *
 * The machine may be shared and noisy: every case runs once per round, the
 * rounds interleave the cases, and each round's ratios are to that round's
 * Go → Go; every ratio is printed with the load average it ran under, then
 * the median. Also printed: 16 and 64 calls in flight (1 in flight is the
 * sequential median), 64 KiB values, the host's memory per connected plugin,
 * and keepalive's time-to-fail for a plugin stopped with calls in flight.
 *
 *   node bench/go-peers.ts [--runs 3]
 */
import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { Client } from "../src/host/index.ts";
import { goPeer, nodeCommand, shq } from "../test/interop/peers.ts";
import { type Figures, type MeasureOptions, measure, SEQUENTIAL } from "./lib.ts";

/** What test/go/cmd/benchhost prints. */
interface BenchhostOutput {
  medianUs: number;
  p99Us: number;
  throughput: number;
}

/** Value sizes: the kv example's small value, and 64 KiB messages. */
const SMALL = 5;
const LARGE = 64 * 1024;

/**
 * Runs the Go bench host (a go-plugin host) against `pluginCommand` (run with
 * sh -c) and returns its figures: sequential median/p99 of kv Get, and
 * throughput with `inflight` calls in flight, Getting a value of `size` bytes.
 */
export function goHostBench(
  name: string,
  pluginCommand: string,
  opts: MeasureOptions & { size?: number } = {},
): Promise<Figures> {
  const args = [
    "-cmd",
    pluginCommand,
    "-n",
    String(opts.sequential ?? SEQUENTIAL),
    "-m",
    String(opts.calls ?? 30000),
    "-inflight",
    String(opts.inflight ?? 64),
    "-warmup",
    "1000",
    "-size",
    String(opts.size ?? SMALL),
  ];
  return new Promise((resolve, reject) => {
    execFile(goPeer("benchhost"), args, { timeout: 10 * 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`benchhost failed: ${err.message}\n${stderr}`));
      const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as BenchhostOutput;
      resolve({ name, medianUs: out.medianUs, p99Us: out.p99Us, throughput: out.throughput });
    });
  });
}

const TS_PLUGIN = "bench/bench-plugin.ts";

/** A TS host Client of the Go plugin or the TS bench plugin. */
function tsHost(
  plugin: "go" | "ts",
  o: { callMetrics?: boolean; name?: string } = {},
): Client<{ kv: ReturnType<typeof kvPlugin> }> {
  return new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd:
      plugin === "go"
        ? { command: goPeer("goplugin") }
        : { command: process.execPath, args: [join(import.meta.dirname, "..", TS_PLUGIN)] },
    logger: pino({ level: "silent" }),
    metricsRegistry: new Registry(),
    ...o,
  });
}

/** The TS host calling `plugin`, Getting a value of `size` bytes. */
async function tsHostBench(
  name: string,
  plugin: "go" | "ts",
  o: MeasureOptions & { size?: number; callMetrics?: boolean } = {},
): Promise<Figures> {
  const client = tsHost(plugin, { callMetrics: o.callMetrics });
  try {
    const kv = await client.dispense("kv");
    await kv.put("k", Buffer.alloc(o.size ?? SMALL, "v"));
    return await measure(name, () => kv.get("k"), o);
  } finally {
    await client.kill();
  }
}

/** Go host → Go plugin: the go-plugin reference. */
export function goToGo(o: MeasureOptions & { size?: number } = {}): Promise<Figures> {
  return goHostBench("go-plugin Go host → Go plugin (reference)", shq(goPeer("goplugin")), o);
}

/** Go host → podplug TS plugin. */
export function goToTs(o: MeasureOptions & { size?: number } = {}): Promise<Figures> {
  return goHostBench("go-plugin Go host → podplug TS plugin", nodeCommand(TS_PLUGIN), o);
}

/** podplug TS host → Go plugin. */
export function tsToGo(o: MeasureOptions & { size?: number } = {}): Promise<Figures> {
  return tsHostBench("podplug TS host → go-plugin Go plugin", "go", o);
}

/** podplug TS host → TS plugin. */
export function tsToTs(o: MeasureOptions & { size?: number; callMetrics?: boolean } = {}): Promise<Figures> {
  const off = o.callMetrics === false ? " (metrics off)" : "";
  return tsHostBench(`podplug TS host → TS plugin${off}`, "ts", o);
}

/** The four pairings once, small values, 64 in flight; the first is the reference (bench/run.ts's table). */
export async function goInteropFigures(): Promise<Figures[]> {
  return [await goToGo(), await goToTs(), await tsToGo(), await tsToTs()];
}

/** One case of the interleaved rounds. */
interface Case {
  name: string;
  run: () => Promise<Figures>;
}

interface Row {
  name: string;
  /** One per round: the figures, that round's Go → Go reference and the 1-minute load average. */
  runs: { f: Figures; ref: Figures; load: number }[];
}

const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `cases` (the first is the reference) `rounds` times interleaved; prints every ratio and the medians. */
export async function interleaved(title: string, cases: Case[], rounds: number): Promise<Row[]> {
  const rows: Row[] = cases.map((c) => ({ name: c.name, runs: [] }));
  for (let r = 0; r < rounds; r++) {
    const load = loadavg()[0]!;
    const figs: Figures[] = [];
    for (const c of cases) {
      // A case that fails (a plugin starved past keepalive's timeout on a loaded machine) is shown, not fatal.
      figs.push(
        await c.run().catch((err: Error) => {
          console.log(`  (${c.name}: failed in round ${r + 1}: ${err.message})`);
          return { name: c.name, medianUs: Number.NaN, p99Us: Number.NaN, throughput: Number.NaN };
        }),
      );
    }
    for (const [i, f] of figs.entries()) rows[i]!.runs.push({ f, ref: figs[0]!, load });
  }
  console.log(`\n${title}  (${rounds} interleaved rounds; ratios to each round's "${cases[0]!.name}")`);
  console.log(
    `${"case".padEnd(50)} ${"median µs".padStart(9)} ${"p99 µs".padStart(8)} ${"calls/s".padStart(8)}  ${"tput × per round [load]".padEnd(34)} ${"tput ×".padStart(6)} ${"lat ×".padStart(6)}`,
  );
  for (const row of rows) {
    const tput = row.runs.map((x) => x.f.throughput / x.ref.throughput);
    const lat = row.runs.map((x) => x.f.medianUs / x.ref.medianUs);
    const per = row.runs.map((x, i) => `${tput[i]!.toFixed(2)}[${x.load.toFixed(1)}]`).join(" ");
    console.log(
      `${row.name.padEnd(50)} ${med(row.runs.map((x) => x.f.medianUs))
        .toFixed(0)
        .padStart(9)} ${med(row.runs.map((x) => x.f.p99Us))
        .toFixed(0)
        .padStart(8)} ${med(row.runs.map((x) => x.f.throughput))
        .toFixed(0)
        .padStart(8)}  ${per.padEnd(34)} ${med(tput).toFixed(2).padStart(6)} ${med(lat).toFixed(2).padStart(6)}`,
    );
  }
  return rows;
}

/** The host process's memory per connected TS plugin: RSS and heap after connecting `n`, over `n`. */
export async function memoryPerPlugin(n = 8): Promise<{ rssKiB: number; heapKiB: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const clients = Array.from({ length: n }, (_, i) => tsHost("ts", { name: `mem-${i}` }));
  const first = tsHost("ts", { name: "mem-first" });
  try {
    // One plugin first, so the modules and JIT warm-up are not counted per plugin.
    await (await first.dispense("kv")).get("k");
    gc?.();
    const m0 = process.memoryUsage();
    for (const c of clients) await (await c.dispense("kv")).get("k");
    gc?.();
    const m1 = process.memoryUsage();
    return { rssKiB: (m1.rss - m0.rss) / 1024 / n, heapKiB: (m1.heapUsed - m0.heapUsed) / 1024 / n };
  } finally {
    await Promise.all([first.kill(), ...clients.map((c) => c.kill())]);
  }
}

/**
 * Keepalive's time-to-fail: 8 calls kept in flight to `plugin`, SIGSTOP, and
 * the time until each call in flight failed; the median and the slowest.
 */
export async function timeToFail(plugin: "go" | "ts"): Promise<{ medianMs: number; maxMs: number; codes: string }> {
  const client = tsHost(plugin, { name: `ttf-${plugin}` });
  try {
    const kv = await client.dispense("kv");
    await kv.put("k", Buffer.from("v"));
    const pid = client.pid!;
    let stoppedAt = 0;
    const failedAfter: number[] = [];
    const codes = new Set<string>();
    const worker = async (): Promise<void> => {
      for (;;) {
        try {
          await kv.get("k");
        } catch (err) {
          if (stoppedAt === 0) throw err;
          failedAfter.push(performance.now() - stoppedAt);
          codes.add(String((err as { code?: number }).code));
          return;
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 300));
    stoppedAt = performance.now();
    process.kill(pid, "SIGSTOP");
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 20_000))]);
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // the client already replaced it
    }
    return { medianMs: med(failedAfter), maxMs: Math.max(...failedAfter), codes: [...codes].join(",") };
  } finally {
    await client.kill();
  }
}

/** Everything above, as `make bench` prints it. */
export async function goPeersBench(rounds: number): Promise<void> {
  for (const inflight of [64, 16]) {
    const o = { inflight };
    await interleaved(
      `go-plugin interop: kv Get, ${SMALL}-byte value, ${inflight} in flight (median µs = 1 in flight)`,
      [
        { name: "go-plugin Go host → Go plugin (reference)", run: () => goToGo(o) },
        { name: "go-plugin Go host → podplug TS plugin", run: () => goToTs(o) },
        { name: "podplug TS host → go-plugin Go plugin", run: () => tsToGo(o) },
        { name: "podplug TS host → TS plugin", run: () => tsToTs(o) },
        { name: "podplug TS host → TS plugin (metrics off)", run: () => tsToTs({ ...o, callMetrics: false }) },
      ],
      rounds,
    );
  }
  const big = { size: LARGE, sequential: 500, calls: 3000 };
  await interleaved(
    "go-plugin interop: kv Get, 64 KiB value, 64 in flight",
    [
      { name: "go-plugin Go host → Go plugin (reference)", run: () => goToGo(big) },
      { name: "go-plugin Go host → podplug TS plugin", run: () => goToTs(big) },
      { name: "podplug TS host → go-plugin Go plugin", run: () => tsToGo(big) },
      { name: "podplug TS host → TS plugin", run: () => tsToTs(big) },
    ],
    rounds,
  );
  const mem = await memoryPerPlugin();
  console.log(
    `\nTS host memory per connected TS plugin (8 plugins): ${mem.rssKiB.toFixed(0)} KiB RSS, ${mem.heapKiB.toFixed(0)} KiB JS heap`,
  );
  for (const p of ["ts", "go"] as const) {
    const t = await timeToFail(p);
    console.log(
      `Keepalive time-to-fail, TS host → ${p === "ts" ? "TS" : "Go"} plugin SIGSTOPped with 8 calls in flight: median ${t.medianMs.toFixed(0)} ms, slowest ${t.maxMs.toFixed(0)} ms (gRPC codes ${t.codes}; bound 1000 ms)`,
    );
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf("--runs");
  const rounds = i >= 0 ? Number(process.argv[i + 1]) : 3;
  console.log(`go-plugin interop benchmarks — Node ${process.version}, Go peers in ${join(goPeer("benchhost"), "..")}`);
  await goPeersBench(rounds);
}
