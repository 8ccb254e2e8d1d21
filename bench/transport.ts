/**
 * Transport benchmark: grpc-js versus podplug's transport, each pairing
 * in two fresh Node processes over a Unix socket, small unary messages (the
 * kv example's Get). Sequential latency (median, p99), throughput with 64
 * calls in flight, and CPU per call of each process; ratios against grpc-js
 * client -> grpc-js server. podplug's transport runs on its own HTTP/2 engine;
 * the last row shows it on node:http2 for comparison.
 *
 *   node bench/transport.ts [--runs 3]      (BENCH_SEQ, BENCH_CALLS as in bench/lib.ts)
 *
 * Each figure is the median over the runs (the design's method); no figure
 * is asserted anywhere.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { type GetRequest, type GetResponse, KVClient, KVService } from "../src/gen/examples/kv/kv.ts";
import { PodplugChannel } from "../src/transport/channel.ts";
import { PodplugServer } from "../src/transport/server.ts";
import { CONCURRENT_CALLS, INFLIGHT, measure, SEQUENTIAL } from "./lib.ts";

/** grpc-js, or podplug's transport on its own HTTP/2 engine (default) or on node:http2. */
type Side = "grpcjs" | "podplug" | "podplug-node";
interface Result {
  medianUs: number;
  p99Us: number;
  callsPerSec: number;
  /** CPU time per call of the client process, and of the server process, in µs. */
  clientCpuUs: number;
  serverCpuUs: number;
}

/** Calls one pairing makes: bench/lib's warm-up, sequential and concurrent phases. */
const CALLS = 1000 + SEQUENTIAL + CONCURRENT_CALLS;

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

if (args[0] === "--serve") await serve(args[1] as Side, args[2]!);
else if (args[0] === "--call") await call(args[1] as Side, args[2]!);
else await main();

/** Child: serves KV on `path` with the given server, answers Get with a fixed small value. */
async function serve(side: Side, path: string): Promise<void> {
  const value = Buffer.from("v".repeat(16));
  const impl = {
    get: (_call: grpc.ServerUnaryCall<GetRequest, GetResponse>, cb: grpc.sendUnaryData<GetResponse>) =>
      cb(null, { value }),
    put: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  };
  const server =
    side === "grpcjs"
      ? new grpc.Server()
      : new PodplugServer({ "podplug.engine": side === "podplug-node" ? "node-http2" : "podplug" });
  server.addService(KVService, impl);
  await new Promise<void>((resolve, reject) => {
    const done = (err: Error | null): void => (err ? reject(err) : resolve());
    if (server instanceof PodplugServer) server.bindAsync(`unix://${path}`, null, done);
    else server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), done);
  });
  const cpu0 = process.cpuUsage();
  process.stdout.write("ready\n");
  // Any line on stdin asks for the CPU spent since "ready"; the end of stdin ends the child.
  createInterface({ input: process.stdin }).on("line", () => {
    const c = process.cpuUsage(cpu0);
    process.stdout.write(`${c.user + c.system}\n`);
  });
  process.stdin.on("end", () => process.exit(0));
}

/** Child: the client side of one pairing; prints one JSON {@link Result}. */
async function call(side: Side, path: string): Promise<void> {
  const channel =
    side === "grpcjs"
      ? new grpc.Channel(`unix://${path}`, grpc.credentials.createInsecure(), {})
      : new PodplugChannel(path, { engine: side === "podplug-node" ? "node-http2" : "podplug" });
  const client = new KVClient("unused", grpc.credentials.createInsecure(), { channelOverride: channel });
  const req: GetRequest = { key: "k" };
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => client.get(req, (err) => (err ? reject(err) : resolve())));
  const cpu0 = process.cpuUsage();
  const f = await measure(side, one);
  const cpu = process.cpuUsage(cpu0);
  const r: Result = {
    medianUs: f.medianUs,
    p99Us: f.p99Us,
    callsPerSec: f.throughput,
    clientCpuUs: (cpu.user + cpu.system) / CALLS,
    serverCpuUs: 0,
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
  client.close();
  process.exit(0);
}

function child(argv: string[]): ChildProcess {
  return spawn(process.execPath, [import.meta.filename, ...argv], { stdio: ["pipe", "pipe", "inherit"] });
}

function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout! });
    rl.once("line", (l) => {
      rl.close();
      resolve(l);
    });
    p.once("exit", (code) => reject(new Error(`benchmark child exited with ${code}`)));
  });
}

async function pairing(client: Side, server: Side, dir: string): Promise<Result> {
  const path = join(dir, `${client}-${server}.sock`);
  const srv = child(["--serve", server, path]);
  try {
    const lines = createInterface({ input: srv.stdout! })[Symbol.asyncIterator]();
    await lines.next(); // ready
    const cli = child(["--call", client, path]);
    const r = JSON.parse(await firstLine(cli)) as Result;
    srv.stdin!.write("cpu\n");
    r.serverCpuUs = Number((await lines.next()).value) / CALLS;
    return r;
  } finally {
    srv.stdin!.end();
    srv.kill();
    rmSync(path, { force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const runs = opt("runs", 3);
  const pairs: [string, Side, Side][] = [
    ["grpc-js client -> grpc-js server (baseline)", "grpcjs", "grpcjs"],
    ["PodplugChannel    -> grpc-js server", "podplug", "grpcjs"],
    ["grpc-js client -> PodplugServer", "grpcjs", "podplug"],
    ["PodplugChannel    -> PodplugServer", "podplug", "podplug"],
    ["(both on node:http2 engines)", "podplug-node", "podplug-node"],
  ];
  const dir = mkdtempSync(join(tmpdir(), "ppb-"));
  const all = new Map<string, Result[]>();
  try {
    for (let r = 0; r < runs; r++) {
      // Interleave pairings across runs so drift on the machine hits all of them alike.
      for (const [name, c, s] of pairs) {
        const res = await pairing(c, s, dir);
        all.set(name, [...(all.get(name) ?? []), res]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `node ${process.version}, grpc-js ${grpcVersion()}; medians of ${runs} run(s); ${SEQUENTIAL} sequential calls, ${CONCURRENT_CALLS} at ${INFLIGHT} in flight`,
  );
  const base = summary(all.get(pairs[0]![0])!);
  console.log(
    `${"pairing".padEnd(44)} ${"median µs".padStart(9)} ${"p99 µs".padStart(8)} ${"calls/s".padStart(8)} ${"cli CPU µs".padStart(10)} ${"srv CPU µs".padStart(10)}  lat÷base  tput×base`,
  );
  for (const [name] of pairs) {
    const m = summary(all.get(name)!);
    const cols = [
      m.medianUs.toFixed(0).padStart(9),
      m.p99Us.toFixed(0).padStart(8),
      m.callsPerSec.toFixed(0).padStart(8),
      m.clientCpuUs.toFixed(1).padStart(10),
      m.serverCpuUs.toFixed(1).padStart(10),
    ];
    console.log(
      `${name.padEnd(44)} ${cols.join(" ")}  ${(m.medianUs / base.medianUs).toFixed(2).padStart(8)}  ${(m.callsPerSec / base.callsPerSec).toFixed(2).padStart(9)}`,
    );
  }
}

function summary(rs: Result[]): Result {
  const m = (k: keyof Result): number => median(rs.map((r) => r[k]));
  return {
    medianUs: m("medianUs"),
    p99Us: m("p99Us"),
    callsPerSec: m("callsPerSec"),
    clientCpuUs: m("clientCpuUs"),
    serverCpuUs: m("serverCpuUs"),
  };
}

function grpcVersion(): string {
  const pkg = createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string };
  return pkg.version;
}
