/**
 * What each attack of the suite (test/transport/attacks.test.ts) costs a
 * plugin's server, beside the same attack against a grpc-go server in the same
 * run: go-plugin's own examples/grpc kv plugin, built from the Go proxy, which
 * is what every Go go-plugin plugin serves. Each attack meets a fresh victim
 * process; from /proc the bench reads the victim's RSS growth (peak over its
 * baseline) and the CPU seconds it spent, while a well-behaved peer on another
 * connection asks it for an unknown method every 50 ms (both servers answer
 * UNIMPLEMENTED at once) and times each answer. The ratios are podplug's to
 * grpc-go's. Bounded: each attack sends at most its stated bytes and runs at
 * most ATTACK_MS; every request goes to a Unix socket in a temp folder.
 *   node bench/attacks.ts
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NODE, ROOT, tempDir } from "../test/helpers.ts";
import { goPeer } from "../test/interop/peers.ts";
import { blockFrames, bomb, hugeHeader, repeated } from "../test/transport/attacks/frames.ts";
import { F, HostilePeer, ping, requestBlock, rstStream } from "../test/transport/attacks/hostile.ts";
import { frame, settings } from "../test/transport/raw-h2.ts";
import { cpuSeconds, percentile, procStatusKiB } from "./lib.ts";

const MB = 1 << 20;
/** The longest an attack runs (then the hostile connection is dropped). */
const ATTACK_MS = 8000;
/** How long the bench goes on measuring after the attack's last byte (or the victim's close). */
const AFTER_MS = 500;
const PROBE_EVERY_MS = 50;

interface Attack {
  name: string;
  /** Frames to send, one batch per call, until undefined, the victim closes, or `limit` bytes. */
  frames: (path: string) => () => Buffer | undefined;
  limit: number;
  /** Stop reading the victim's answers (floods that count on a peer that never reads). */
  neverReads?: boolean;
}

const HEADERS_OPEN = (id: number, path: string): Buffer => frame(F.HEADERS, F.END_HEADERS, id, requestBlock(path));

function streams(path: string, count: number, withReset: boolean): () => Buffer | undefined {
  let id = 1;
  return () => {
    if (id > 2 * count) return undefined;
    const batch: Buffer[] = [];
    for (let i = 0; i < 100 && id <= 2 * count; i++, id += 2) {
      batch.push(HEADERS_OPEN(id, path));
      if (withReset) batch.push(rstStream(id, 8));
    }
    return Buffer.concat(batch);
  };
}

const ATTACKS: Attack[] = [
  {
    name: "endless CONTINUATION (64 MB)",
    frames: (path) => blockFrames(1, requestBlock(path), 64 * MB, (n) => Buffer.alloc(n, 0x41)),
    limit: 64 * MB,
  },
  { name: "11 MB HPACK bomb", frames: (path) => bomb(1, requestBlock(path), 11 * MB), limit: 12 * MB },
  { name: "100 MB header value", frames: (path) => hugeHeader(1, requestBlock(path), 100 * MB), limit: 101 * MB },
  { name: "PING flood, never reads (64 MB)", frames: () => repeated(ping(), 1000), limit: 64 * MB, neverReads: true },
  {
    name: "SETTINGS flood, never reads (64 MB)",
    frames: () => repeated(settings(), 1000),
    limit: 64 * MB,
    neverReads: true,
  },
  { name: "rapid reset (20,000 streams)", frames: (path) => streams(path, 20_000, true), limit: 64 * MB },
  { name: "stream flood (10,000 open streams)", frames: (path) => streams(path, 10_000, false), limit: 64 * MB },
  {
    name: "one 16 MB DATA frame (the largest a frame header can say)",
    frames: (path) => {
      let sent = false;
      return () => {
        if (sent) return undefined;
        sent = true;
        return Buffer.concat([HEADERS_OPEN(1, path), frame(F.DATA, 0, 1, Buffer.alloc(16 * MB - 1))]);
      };
    },
    limit: 17 * MB,
  },
];

/** A victim process and the gRPC path its attacks target. */
interface VictimProc {
  pid: number;
  socket: string;
  path: string;
  stop(): void;
}

async function podplugVictim(dir: string): Promise<VictimProc> {
  const socket = join(dir, "victim.sock");
  const child = spawn(NODE, [join(ROOT, "test/transport/fixtures/victim.ts"), "server", socket], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  const first = await firstLine(child.stdout!, 30_000);
  if (first !== '"ready"') throw new Error(`bench/attacks: the podplug victim said ${first}`);
  return { pid: child.pid!, socket, path: "/podplug.test.Echo/Unary", stop: () => child.kill("SIGKILL") };
}

async function grpcGoVictim(dir: string): Promise<VictimProc> {
  const child = spawn(goPeer("grpc-plugin"), [], {
    cwd: dir,
    env: {
      ...process.env,
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_MIN_PORT: "0",
      PLUGIN_MAX_PORT: "0",
      PLUGIN_UNIX_SOCKET_DIR: dir,
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  const line = await firstLine(child.stdout!, 30_000);
  const socket = line.split("|")[3];
  if (!socket) throw new Error(`bench/attacks: go-plugin's kv plugin printed ${line}`);
  return { pid: child.pid!, socket, path: "/proto.KV/Get", stop: () => child.kill("SIGKILL") };
}

function firstLine(stream: NodeJS.ReadableStream, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: stream });
    const t = setTimeout(() => reject(new Error(`bench/attacks: no line within ${ms} ms`)), ms);
    rl.once("line", (l) => {
      clearTimeout(t);
      rl.close();
      resolve(l.trim());
    });
  });
}

const rssBytes = (pid: number): number => procStatusKiB(pid, "VmRSS") * 1024;

interface Cost {
  rssGrowthMB: number;
  cpuS: number;
  probeP50Ms: number;
  probeMaxMs: number;
  /** Probes with no answer within ATTACK_MS. */
  probesLost: number;
  outcome: string;
}

/** A well-behaved peer asking for an unknown method every PROBE_EVERY_MS; the answer times. */
async function probing(socket: string, until: () => boolean): Promise<{ times: number[]; lost: number }> {
  const p = new HostilePeer(net.connect(socket), "client");
  await p.until(() => p.settings.size > 0, 10_000);
  const times: number[] = [];
  let lost = 0;
  for (let id = 1; !until() && id < 2 * 10_000; id += 2) {
    const t0 = performance.now();
    p.send(frame(F.HEADERS, F.END_HEADERS | 0x1, id, requestBlock("/podplug.bench.Probe/Unknown")));
    await p.until(() => p.requests.includes(id) || p.closed, ATTACK_MS);
    if (p.requests.includes(id)) times.push(performance.now() - t0);
    else lost++;
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  p.destroy();
  return { times, lost };
}

async function attackOnce(victim: VictimProc, a: Attack): Promise<Cost> {
  await new Promise((r) => setTimeout(r, 300)); // let the victim settle after its start
  const base = rssBytes(victim.pid);
  const cpu0 = cpuSeconds(victim.pid);
  let peak = base;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(victim.pid));
    } catch {}
  }, 20);
  let done = false;
  const probe = probing(victim.socket, () => done);
  const peer = new HostilePeer(net.connect(victim.socket), "client");
  await peer.until(() => peer.settings.size > 0 || peer.closed, 10_000);
  if (a.neverReads) peer.socket.pause();
  const next = a.frames(victim.path);
  const t0 = performance.now();
  while (!peer.closed && peer.sent < a.limit && performance.now() - t0 < ATTACK_MS) {
    const f = next();
    if (!f) break;
    if (!peer.send(f))
      await Promise.race([
        new Promise((r) => peer.socket.once("drain", r)),
        new Promise((r) => setTimeout(r, ATTACK_MS - (performance.now() - t0))),
      ]);
  }
  await peer.until(() => peer.closed, AFTER_MS);
  const outcome = peer.goaway
    ? `GOAWAY ${peer.goaway.code}${peer.closed ? ", closed" : ""}`
    : peer.closed
      ? "closed"
      : peer.resets.size > 0
        ? `${peer.resets.size} RST_STREAM`
        : "open";
  const sentMB = Math.round(peer.sent / MB);
  peer.destroy();
  done = true;
  const { times, lost } = await probe;
  clearInterval(sampler);
  return {
    rssGrowthMB: Math.round((peak - base) / MB),
    cpuS: cpuSeconds(victim.pid) - cpu0,
    probeP50Ms: times.length ? percentile(times, 50) : Number.NaN,
    probeMaxMs: times.length ? Math.max(...times) : Number.NaN,
    probesLost: lost,
    outcome: `${outcome} (${sentMB} MB sent)`,
  };
}

async function costs(start: (dir: string) => Promise<VictimProc>, a: Attack): Promise<Cost> {
  const tmp = tempDir("podplug-bench-attack-");
  const v = await start(tmp.dir);
  try {
    return await attackOnce(v, a);
  } finally {
    v.stop();
    tmp.remove();
  }
}

const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
const cell = (c: Cost): string =>
  `+${c.rssGrowthMB} MB, ${c.cpuS.toFixed(2)} s CPU, probe ${c.probeP50Ms.toFixed(1)}/${c.probeMaxMs.toFixed(0)} ms${c.probesLost ? `, ${c.probesLost} lost` : ""}; ${c.outcome}`;
const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : a > 0 ? "∞" : "=");

console.log(
  `\nAttacks on a plugin's server, podplug (default engine) beside grpc-go (go-plugin's examples/grpc plugin), a fresh victim each; victim RSS growth, CPU seconds, a well-behaved peer's probe p50/max, what the attacker saw; ratios podplug ÷ grpc-go`,
);
console.log("| attack | podplug | grpc-go | RSS × | CPU × | load |");
console.log("|---|---|---|---|---|---|");
for (const a of ATTACKS) {
  const mine = await costs(podplugVictim, a);
  const theirs = await costs(grpcGoVictim, a);
  console.log(
    `| ${a.name} | ${cell(mine)} | ${cell(theirs)} | ${ratio(mine.rssGrowthMB, theirs.rssGrowthMB)} | ${ratio(mine.cpuS, theirs.cpuS)} | ${load()} |`,
  );
}
