/**
 * go-plugin interop benchmarks: the Go → Go reference (go-plugin host and
 * plugin, both real Go, built by tools/build-go-peers.sh), Go host → TS
 * plugin and TS host → Go plugin. The plugins answer kv Get from memory
 * (test/go/cmd/goplugin, bench/bench-plugin.ts), so the figures compare the
 * stacks, not the plugins' work. Run alone: `node bench/go-peers.ts`.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { pino } from "pino";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { Client } from "../src/host/index.ts";
import { goPeer, nodeCommand, shq } from "../test/interop/peers.ts";
import { CONCURRENT_CALLS, type Figures, INFLIGHT, measure, report, SEQUENTIAL } from "./lib.ts";

/** What test/go/cmd/benchhost prints. */
interface BenchhostOutput {
  medianUs: number;
  p99Us: number;
  throughput: number;
}

/**
 * Runs the Go bench host (a go-plugin host) against `pluginCommand` (run with
 * sh -c) and returns its figures: sequential median/p99 of kv Get, and
 * throughput with {@link INFLIGHT} calls in flight.
 */
export function goHostBench(
  name: string,
  pluginCommand: string,
  opts: { calls?: number; sequential?: number; inflight?: number } = {},
): Promise<Figures> {
  const args = [
    "-cmd",
    pluginCommand,
    "-n",
    String(opts.sequential ?? SEQUENTIAL),
    "-m",
    String(opts.calls ?? CONCURRENT_CALLS),
    "-inflight",
    String(opts.inflight ?? INFLIGHT),
    "-warmup",
    "1000",
  ];
  return new Promise((resolve, reject) => {
    execFile(goPeer("benchhost"), args, { timeout: 10 * 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`benchhost failed: ${err.message}\n${stderr}`));
      const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as BenchhostOutput;
      resolve({ name, medianUs: out.medianUs, p99Us: out.p99Us, throughput: out.throughput });
    });
  });
}

/** Go host → Go plugin: the go-plugin reference. */
export function goToGo(): Promise<Figures> {
  return goHostBench("go-plugin Go host → Go plugin (reference)", shq(goPeer("goplugin")));
}

/** Go host → podplug TS plugin. */
export function goToTs(): Promise<Figures> {
  return goHostBench("go-plugin Go host → podplug TS plugin", nodeCommand("bench/bench-plugin.ts"));
}

/** podplug TS host → Go plugin. */
export async function tsToGo(): Promise<Figures> {
  const client = new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: { command: goPeer("goplugin") },
    logger: pino({ level: "silent" }),
  });
  try {
    const kv = await client.dispense("kv");
    await kv.put("k", Buffer.from("value"));
    return await measure("podplug TS host → go-plugin Go plugin", () => kv.get("k"));
  } finally {
    await client.kill();
  }
}

/** The three, in one run; the first is the reference the others are ratios to. */
export async function goInteropFigures(): Promise<Figures[]> {
  return [await goToGo(), await goToTs(), await tsToGo()];
}

if (import.meta.main) {
  console.log(`go-plugin interop benchmarks — Node ${process.version}, Go peers in ${join(goPeer("benchhost"), "..")}`);
  const rows = await goInteropFigures();
  report("go-plugin interop: kv Get over a Unix socket", rows[0]!, rows);
}
