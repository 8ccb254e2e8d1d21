/**
 * What the engine's limits (issue 14) cost on the fast path: PodplugChannel ->
 * PodplugServer on podplug's engine, small unary calls (bench/transport.ts's
 * kv Get), each pairing two fresh processes over a Unix socket. In one run,
 * rounds interleaved (each round runs every side once, the order alternating
 * round by round so neither side always goes first):
 *   - "limits on": every limit at its default (DEFAULT_H2_LIMITS, 4 MiB
 *     messages, 100 connections, the server's budget DEFAULT_SERVER_BUDGET);
 *   - "no limits": the same tree and engine with every limit at its most
 *     permissive (no count, size or rate can be reached; messages unlimited);
 *   - with `--baseline <git ref>`, also that commit's tree (a git worktree),
 *     e.g. 995ee41, the commit before the limits' code existed;
 *   - grpc-go (go-plugin's Go host calling its Go plugin) unless `--no-go`.
 * Prints each side's medians, the load average of each round and `uptime`
 * before and after, and the throughput ratio limits on ÷ no limits: its
 * median over the rounds, each round's own ratio (the two sides ran back to
 * back), and whether 1.0 lies inside that spread (the difference is then
 * within the machine's noise). The issue's budget: at most 5 % lower.
 *
 *   node bench/limits.ts [--runs 5] [--baseline <git ref>] [--no-go]   (BENCH_SEQ, BENCH_CALLS as in bench/lib.ts)
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { type GetRequest, type GetResponse, KVClient, KVService } from "../src/gen/examples/kv/kv.ts";
import { PodplugChannel } from "../src/transport/channel.ts";
import type { H2Limits } from "../src/transport/h2/limits.ts";
import { PodplugServer } from "../src/transport/server.ts";
import { goToGo } from "./go-peers.ts";
import { CONCURRENT_CALLS, measure, SEQUENTIAL } from "./lib.ts";

const ROOT = join(import.meta.dirname, "..");

interface Result {
  medianUs: number;
  callsPerSec: number;
  clientCpuUs: number;
  serverCpuUs: number;
}

/** Calls one pairing makes: bench/lib's warm-up, sequential and concurrent phases. */
const CALLS = 1000 + SEQUENTIAL + CONCURRENT_CALLS;

/** Every H2 limit where nothing a peer does can reach it (advertised ones stay within HTTP/2's 31 bits). */
const PERMISSIVE: H2Limits = {
  maxHeaderListSize: 2 ** 31 - 1,
  maxConcurrentStreams: 2 ** 31 - 1,
  maxQueuedControlFrames: Number.MAX_SAFE_INTEGER,
  maxInvalidFrames: Number.MAX_SAFE_INTEGER,
  resetBurst: Number.MAX_SAFE_INTEGER,
  resetRate: Number.MAX_SAFE_INTEGER,
  maxSettingsEntries: Number.MAX_SAFE_INTEGER,
  maxPausedBytes: Number.MAX_SAFE_INTEGER,
  maxSendQueueBytes: Number.MAX_SAFE_INTEGER,
};

type Mode = "limits" | "none";
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};

/** Child: serves kv Get on `path` with a fixed small value, with the limits on or all permissive. */
async function serve(mode: Mode, path: string): Promise<void> {
  const value = Buffer.from("v".repeat(16));
  const impl = {
    get: (_call: grpc.ServerUnaryCall<GetRequest, GetResponse>, cb: grpc.sendUnaryData<GetResponse>) =>
      cb(null, { value }),
    put: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  };
  const server = new PodplugServer(
    mode === "limits"
      ? { "podplug.engine": "podplug" }
      : {
          "podplug.engine": "podplug",
          "podplug.h2Limits": PERMISSIVE,
          "podplug.maxConnections": Number.MAX_SAFE_INTEGER,
          "podplug.serverBudget": {
            maxPausedBytes: Number.MAX_SAFE_INTEGER,
            maxSendQueueBytes: Number.MAX_SAFE_INTEGER,
          },
          "grpc.max_receive_message_length": -1,
        },
  );
  server.addService(KVService, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path}`, null, (err) => (err ? reject(err) : resolve())),
  );
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
async function call(mode: Mode, path: string): Promise<void> {
  const channel = new PodplugChannel(
    path,
    mode === "limits"
      ? { engine: "podplug" }
      : { engine: "podplug", h2Limits: PERMISSIVE, maxReceiveMessageLength: -1 },
  );
  const client = new KVClient("unused", grpc.credentials.createInsecure(), { channelOverride: channel });
  const req: GetRequest = { key: "k" };
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => client.get(req, (err) => (err ? reject(err) : resolve())));
  const cpu0 = process.cpuUsage();
  const f = await measure(mode, one);
  const cpu = process.cpuUsage(cpu0);
  const r: Result = {
    medianUs: f.medianUs,
    callsPerSec: f.throughput,
    clientCpuUs: (cpu.user + cpu.system) / CALLS,
    serverCpuUs: 0,
  };
  process.stdout.write(`${JSON.stringify(r)}\n`);
  client.close();
  process.exit(0);
}

/** A side of the comparison: which script runs the pairing, and its arguments' mode. */
interface Side {
  name: string;
  script: string;
  mode: Mode | "transport";
}

function child(side: Side, argv: string[]): ChildProcess {
  // A baseline tree has no such modes: its bench/transport.ts pairs its own engine with its own defaults.
  const a = side.mode === "transport" ? [argv[0]!, "podplug", argv[2]!] : argv;
  return spawn(process.execPath, [side.script, ...a], { stdio: ["pipe", "pipe", "inherit"] });
}

/** One pairing of `side`, server and client in processes of their own. */
async function pairing(side: Side, dir: string): Promise<Result> {
  const path = join(dir, "p.sock");
  const mode = side.mode === "transport" ? "podplug" : side.mode;
  const srv = child(side, ["--serve", mode, path]);
  try {
    const lines = createInterface({ input: srv.stdout! })[Symbol.asyncIterator]();
    await lines.next(); // ready
    const cli = child(side, ["--call", mode, path]);
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: cli.stdout! }).once("line", resolve);
      cli.once("exit", (code) => reject(new Error(`client exited with ${code}`)));
    });
    const r = JSON.parse(line) as Result;
    srv.stdin!.write("cpu\n");
    r.serverCpuUs = Number((await lines.next()).value) / CALLS;
    return r;
  } finally {
    srv.stdin!.end();
    srv.kill();
    rmSync(path, { force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const uptime = (): string => execFileSync("uptime", { encoding: "utf8" }).trim();

async function main(): Promise<void> {
  const runs = Number(opt("runs", "5"));
  const baseline = args.includes("--baseline") ? opt("baseline", "") : undefined;
  const withGo = !args.includes("--no-go");
  const dir = mkdtempSync(join(tmpdir(), "ppb-limits-"));
  const baseTree = join(dir, "tree");
  const sides: Side[] = [
    { name: "limits on (defaults)", script: import.meta.filename, mode: "limits" },
    { name: "no limits (all permissive)", script: import.meta.filename, mode: "none" },
  ];
  if (baseline !== undefined) {
    execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", "--quiet", baseTree, baseline]);
    symlinkSync(join(ROOT, "node_modules"), join(baseTree, "node_modules"));
    sides.push({ name: `tree ${baseline}`, script: join(baseTree, "bench/transport.ts"), mode: "transport" });
  }
  try {
    const all = new Map<string, Result[]>(sides.map((s) => [s.name, []]));
    const go: { medianUs: number; callsPerSec: number }[] = [];
    const loads: number[] = [];
    const before = uptime();
    for (let r = 0; r < runs; r++) {
      loads.push(loadavg()[0]!);
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) all.get(s.name)!.push(await pairing(s, dir));
      if (withGo) {
        const f = await goToGo();
        go.push({ medianUs: f.medianUs, callsPerSec: f.throughput });
      }
    }
    const after = uptime();
    const m = (name: string, k: keyof Result): number => median(all.get(name)!.map((x) => x[k]));
    console.log(
      `Transport limits' cost: PodplugChannel -> PodplugServer (podplug's engine), small unary; medians of ${runs} interleaved rounds`,
    );
    console.log(`uptime before: ${before}\nuptime after:  ${after}`);
    console.log(`load average (1 min) at each round: ${loads.map((l) => l.toFixed(1)).join(", ")}`);
    console.log(
      `${"side".padEnd(30)} ${"median µs".padStart(9)} ${"calls/s".padStart(8)} ${"cli CPU µs".padStart(10)} ${"srv CPU µs".padStart(10)}`,
    );
    for (const { name } of sides)
      console.log(
        `${name.padEnd(30)} ${m(name, "medianUs").toFixed(0).padStart(9)} ${m(name, "callsPerSec").toFixed(0).padStart(8)} ${m(name, "clientCpuUs").toFixed(1).padStart(10)} ${m(name, "serverCpuUs").toFixed(1).padStart(10)}`,
      );
    const goRate = withGo ? median(go.map((g) => g.callsPerSec)) : Number.NaN;
    if (withGo)
      console.log(
        `${"grpc-go (go-plugin Go→Go)".padEnd(30)} ${median(go.map((g) => g.medianUs))
          .toFixed(0)
          .padStart(9)} ${goRate.toFixed(0).padStart(8)} ${"-".padStart(10)} ${"-".padStart(10)}`,
      );
    const ratioOf = (a: string, b: string): void => {
      const per = all.get(a)!.map((x, i) => x.callsPerSec / all.get(b)![i]!.callsPerSec);
      // The median of the rounds' own ratios (each round ran both back to back), not the ratio of the medians.
      const ratio = median(per);
      const lo = Math.min(...per);
      const hi = Math.max(...per);
      console.log(
        `throughput ${a} ÷ ${b}: median of the rounds' ratios ${ratio.toFixed(3)} (${ratio >= 0.95 ? "within" : "OVER"} the 5 % budget; ratio of the medians ${(m(a, "callsPerSec") / m(b, "callsPerSec")).toFixed(3)}); per round ${per.map((p) => p.toFixed(3)).join(", ")}: ${lo <= 1 && hi >= 1 ? "1.0 lies inside, within noise" : "1.0 outside, a difference beyond this run's noise"}; CPU per call client ${(m(a, "clientCpuUs") / m(b, "clientCpuUs")).toFixed(3)}, server ${(m(a, "serverCpuUs") / m(b, "serverCpuUs")).toFixed(3)}`,
      );
    };
    ratioOf(sides[0]!.name, sides[1]!.name);
    if (baseline !== undefined) ratioOf(sides[0]!.name, sides[2]!.name);
    if (withGo)
      console.log(`throughput ${sides[0]!.name} ÷ grpc-go: ${(m(sides[0]!.name, "callsPerSec") / goRate).toFixed(3)}`);
  } finally {
    if (baseline !== undefined) execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", baseTree]);
    rmSync(dir, { recursive: true, force: true });
  }
}

// Last: the helpers above are initialized before either mode runs.
if (args[0] === "--serve") await serve(args[1] as Mode, args[2]!);
else if (args[0] === "--call") await call(args[1] as Mode, args[2]!);
else await main();
