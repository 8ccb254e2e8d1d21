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
 *   node bench/go-peers.ts [--runs 3] [--only unary,large,stream,callbacks,memory,keepalive]
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { handshake as counterHandshake, counterPlugin } from "../examples/counter/shared.ts";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { streamerPlugin, handshake as streamHandshake } from "../examples/streaming/shared.ts";
import { Client, type PluginCommand } from "../src/host/index.ts";
import { type GoPeer, goPeer, nodeCommand, shq } from "../test/interop/peers.ts";
import { type Figures, type MeasureOptions, measure, percentile, SEQUENTIAL } from "./lib.ts";

/** What test/go/cmd/benchhost prints. */
interface BenchhostOutput {
  medianUs: number;
  p99Us: number;
  throughput: number;
}

/** Value sizes: the kv example's small value, and 64 KiB messages. */
const SMALL = 5;
const LARGE = 64 * 1024;

/** What test/go/cmd/benchhost prints in -mode stream (also medianUs, p99Us: to the last message). */
interface StreamOutput extends BenchhostOutput {
  firstUs: number;
  messages: number;
}

/** Runs a Go bench host with `args` (in `cwd`) and returns the JSON object it printed last. */
function runBenchhost<T>(peer: "benchhost" | "benchhost-counter", args: string[], cwd?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(goPeer(peer), args, { cwd, timeout: 10 * 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${peer} failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as T);
    });
  });
}

/**
 * Runs the Go bench host (a go-plugin host) against `pluginCommand` (run with
 * sh -c) and returns its figures: sequential median/p99 of kv Get, and
 * throughput with `inflight` calls in flight, Getting a value of `size` bytes.
 */
export async function goHostBench(
  name: string,
  pluginCommand: string,
  opts: MeasureOptions & { size?: number } = {},
): Promise<Figures> {
  const out = await runBenchhost<BenchhostOutput>("benchhost", [
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
  ]);
  return { name, medianUs: out.medianUs, p99Us: out.p99Us, throughput: out.throughput };
}

const TS_PLUGIN = "bench/bench-plugin.ts";
const STREAM_PLUGIN = "examples/streaming/plugin.ts";
const COUNTER_PLUGIN = "examples/counter/plugin.ts";

/** The command of a Go peer or of a TS plugin of the repository (this Node), run in `cwd` (also its KV_DIR). */
function pluginCmd(plugin: "go" | "ts", go: GoPeer, ts: string, cwd?: string): PluginCommand {
  const where = cwd === undefined ? {} : { cwd, env: { KV_DIR: cwd } };
  return plugin === "go"
    ? { command: goPeer(go), ...where }
    : { command: process.execPath, args: [join(import.meta.dirname, "..", ts)], ...where };
}

/** A TS host Client of the Go plugin or the TS bench plugin. */
function tsHost(
  plugin: "go" | "ts",
  o: { callMetrics?: boolean; name?: string } = {},
): Client<{ kv: ReturnType<typeof kvPlugin> }> {
  return new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: pluginCmd(plugin, "goplugin", TS_PLUGIN),
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
export async function interleaved(
  title: string,
  cases: Case[],
  rounds: number,
  units: { lat: string; tput: string } = { lat: "median µs", tput: "calls/s" },
): Promise<Row[]> {
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
    `${"case".padEnd(50)} ${units.lat.padStart(9)} ${"p99 µs".padStart(8)} ${units.tput.padStart(8)}  ${"tput × per round [load]".padEnd(34)} ${"tput ×".padStart(6)} ${"lat ×".padStart(6)}`,
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

/** Server-streaming load: a Read streams a file of STREAM_BYTES in messages of STREAM_CHUNK bytes. */
const STREAM_BYTES = 1024 * 1024;
const STREAM_CHUNK = 1024;
const STREAM_READS = 40;

/** A stream case's figures: medianUs/p99Us to the last message, throughput in messages/s, and to the first. */
type StreamFigures = Figures & { firstUs: number };

/** A file of STREAM_BYTES in a temp folder of its own, for one case; removed by the returned function. */
function streamFile(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "pp-stream-"));
  const path = join(dir, "data");
  writeFileSync(path, Buffer.alloc(STREAM_BYTES, "s"));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The Go bench host streaming from `pluginCommand` (go-plugin's examples/streaming client side). */
async function goHostStream(name: string, pluginCommand: string): Promise<StreamFigures> {
  const f = streamFile();
  try {
    const out = await runBenchhost<StreamOutput>("benchhost", [
      ...["-mode", "stream", "-cmd", pluginCommand, "-path", f.path],
      ...["-size", String(STREAM_BYTES), "-chunk", String(STREAM_CHUNK), "-n", String(STREAM_READS), "-warmup", "5"],
    ]);
    return { name, medianUs: out.medianUs, p99Us: out.p99Us, throughput: out.throughput, firstUs: out.firstUs };
  } finally {
    f.remove();
  }
}

/** The TS host streaming from the Go example plugin or the TS one: same reads as goHostStream. */
async function tsHostStream(name: string, plugin: "go" | "ts"): Promise<StreamFigures> {
  const f = streamFile();
  const client = new Client({
    handshake: streamHandshake,
    plugins: { streamer: streamerPlugin() },
    cmd: pluginCmd(plugin, "stream-plugin", STREAM_PLUGIN),
    logger: pino({ level: "silent" }),
    metricsRegistry: new Registry(),
  });
  try {
    const s = await client.dispense("streamer");
    await s.configure(f.path, STREAM_CHUNK);
    const want = Math.ceil(STREAM_BYTES / STREAM_CHUNK);
    const read = async (): Promise<{ first: number; last: number }> => {
      const t = performance.now();
      let first = 0;
      let got = 0;
      await s.read(() => {
        if (got++ === 0) first = performance.now() - t;
      });
      if (got !== want) throw new Error(`read ${got} messages, want ${want}`);
      return { first: first * 1000, last: (performance.now() - t) * 1000 };
    };
    for (let i = 0; i < 5; i++) await read();
    const firsts: number[] = [];
    const lasts: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < STREAM_READS; i++) {
      const r = await read();
      firsts.push(r.first);
      lasts.push(r.last);
    }
    const secs = (performance.now() - t0) / 1000;
    return {
      name,
      medianUs: med(lasts),
      p99Us: percentile(lasts, 99),
      throughput: (STREAM_READS * want) / secs,
      firstUs: med(firsts),
    };
  } finally {
    await client.kill();
    f.remove();
  }
}

/** Broker callbacks: Puts of examples/bidirectional's counter, each making the plugin call the host's AddHelper once. */
const CALLBACK_PUTS = { sequential: 300, calls: 2000, inflight: 16, warmup: 50 };

/** A folder for the counter plugin's files (both plugins write `kv_<key>` where they run), removed by the function. */
function counterDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "pp-counter-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The Go bench host Putting to `pluginCommand`'s counter (one key per worker). */
async function goHostCallbacks(name: string, pluginCommand: string): Promise<Figures> {
  const d = counterDir();
  try {
    const o = CALLBACK_PUTS;
    const out = await runBenchhost<BenchhostOutput>(
      "benchhost-counter",
      [
        ...["-mode", "counter", "-cmd", pluginCommand, "-n", String(o.sequential), "-m", String(o.calls)],
        ...["-inflight", String(o.inflight), "-warmup", String(o.warmup)],
      ],
      d.dir,
    );
    return { name, medianUs: out.medianUs, p99Us: out.p99Us, throughput: out.throughput };
  } finally {
    d.remove();
  }
}

/** The TS host Putting to the Go example counter plugin or the TS one, its AddHelper served through the broker. */
async function tsHostCallbacks(name: string, plugin: "go" | "ts"): Promise<Figures> {
  const d = counterDir();
  const client = new Client({
    handshake: counterHandshake,
    plugins: { counter: counterPlugin() },
    cmd: pluginCmd(plugin, "bidir-plugin", COUNTER_PLUGIN, d.dir),
    logger: pino({ level: "silent" }),
    metricsRegistry: new Registry(),
  });
  try {
    const counter = await client.dispense("counter");
    const helper = { sum: async (a: bigint, b: bigint) => a + b };
    return await measure(name, (w) => counter.put(`bench-${w}`, 1n, helper), CALLBACK_PUTS);
  } finally {
    await client.kill();
    d.remove();
  }
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

/** The sections of {@link goPeersBench}, in the order it prints them. */
export const SECTIONS = ["unary", "large", "stream", "callbacks", "memory", "keepalive"] as const;
export type Section = (typeof SECTIONS)[number];

/** Everything above, as `make bench` prints it (or only `sections`). */
export async function goPeersBench(rounds: number, sections: readonly Section[] = SECTIONS): Promise<void> {
  const on = (x: Section): boolean => sections.includes(x);
  for (const inflight of on("unary") ? [64, 16] : []) {
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
  if (on("large")) await largeTable(big, rounds);
  if (on("stream")) await streamTable(rounds);
  if (on("callbacks")) await callbackTable(rounds);
  if (on("memory")) {
    const mem = await memoryPerPlugin();
    console.log(
      `\nTS host memory per connected TS plugin (8 plugins): ${mem.rssKiB.toFixed(0)} KiB RSS, ${mem.heapKiB.toFixed(0)} KiB JS heap`,
    );
  }
  for (const p of on("keepalive") ? (["ts", "go"] as const) : []) {
    const t = await timeToFail(p);
    console.log(
      `Keepalive time-to-fail, TS host → ${p === "ts" ? "TS" : "Go"} plugin SIGSTOPped with 8 calls in flight: median ${t.medianMs.toFixed(0)} ms, slowest ${t.maxMs.toFixed(0)} ms (gRPC codes ${t.codes}; bound 1000 ms)`,
    );
  }
}

async function largeTable(big: MeasureOptions & { size: number }, rounds: number): Promise<void> {
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
}

async function streamTable(rounds: number): Promise<void> {
  const streams = await interleaved(
    `go-plugin examples/streaming: server-streaming Read of ${STREAM_BYTES / 1024} KiB in ${STREAM_CHUNK}-byte messages, ${STREAM_READS} Reads one at a time (µs to the last message)`,
    [
      { name: "go-plugin Go host → Go plugin (reference)", run: () => goHostStream("", shq(goPeer("stream-plugin"))) },
      { name: "go-plugin Go host → podplug TS plugin", run: () => goHostStream("", nodeCommand(STREAM_PLUGIN)) },
      { name: "podplug TS host → go-plugin Go plugin", run: () => tsHostStream("", "go") },
      { name: "podplug TS host → TS plugin", run: () => tsHostStream("", "ts") },
    ],
    rounds,
    { lat: "to last µs", tput: "msgs/s" },
  );
  console.log(
    `  time to the first message (median µs): ${streams.map((r) => `${r.name.replace(/^(go-plugin|podplug) /, "")} ${med(r.runs.map((x) => (x.f as StreamFigures).firstUs ?? Number.NaN)).toFixed(0)}`).join("; ")}`,
  );
}

async function callbackTable(rounds: number): Promise<void> {
  await interleaved(
    `go-plugin examples/bidirectional: counter Put making one broker callback into the host's AddHelper, ${CALLBACK_PUTS.inflight} in flight (median µs = 1 in flight; callbacks/s = Puts/s)`,
    [
      {
        name: "go-plugin Go host → Go plugin (reference)",
        run: () => goHostCallbacks("", shq(goPeer("bidir-plugin"))),
      },
      { name: "go-plugin Go host → podplug TS plugin", run: () => goHostCallbacks("", nodeCommand(COUNTER_PLUGIN)) },
      { name: "podplug TS host → go-plugin Go plugin", run: () => tsHostCallbacks("", "go") },
      { name: "podplug TS host → TS plugin", run: () => tsHostCallbacks("", "ts") },
    ],
    rounds,
    { lat: "median µs", tput: "callb/s" },
  );
}

if (import.meta.main) {
  const i = process.argv.indexOf("--runs");
  const rounds = i >= 0 ? Number(process.argv[i + 1]) : 3;
  console.log(`go-plugin interop benchmarks — Node ${process.version}, Go peers in ${join(goPeer("benchhost"), "..")}`);
  const o = process.argv.indexOf("--only");
  const only = o >= 0 ? (process.argv[o + 1]!.split(",") as Section[]) : SECTIONS;
  const unknown = only.filter((x) => !SECTIONS.includes(x));
  if (unknown.length > 0) throw new Error(`--only ${unknown.join(",")}: the sections are ${SECTIONS.join(",")}`);
  await goPeersBench(rounds, only);
}
