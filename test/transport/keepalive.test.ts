/**
 * Keepalive with real processes: calls in flight to a plugin that stops
 * answering (SIGSTOP) — a TypeScript server and go-plugin's Go plugin — fail
 * UNAVAILABLE with TRANSPORT_KEEPALIVE_TIMEOUT while the process is still
 * stopped (nothing else would end them: the kernel keeps a stopped process's
 * socket open), and after SIGCONT the same channel's calls succeed again.
 * A slow call to a live plugin is left alone, and a Go plugin never sends
 * GOAWAY too_many_pings for the default keepalive — while a keepalive that
 * ignores grpc-go's enforcement does get it, which shows the test can fail.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { type GetResponse, KVClient } from "../../src/gen/examples/kv/kv.ts";
import { PodplugChannel, type PodplugChannelOptions } from "../../src/transport/channel.ts";
import { tempDir } from "../helpers.ts";
import { goPeer, goPeersDir, type StartedPlugin, startPlugin } from "../interop/peers.ts";
import { EchoClient, type EchoClientInstance } from "./fixtures/echo.ts";
import { type ServerProcess, startServer, unary } from "./harness.ts";

const creds = grpc.credentials.createInsecure();

/** The process's state letter in /proc (T: stopped). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

interface Ended {
  code: number;
  details: string;
  /** The stopped process's state when the call ended. */
  state: string;
}

/**
 * Keeps `workers` calls in flight with `call` until stopped; once `pid` is
 * SIGSTOPped, records how each call in flight ends and the process's state
 * at that moment. Resolves when every worker's call after the stop ended (or
 * after `capMs`, leaving the rest unresolved, which the assertions catch).
 */
async function stopUnderLoad(
  pid: number,
  call: () => Promise<{ code: number; details: string }>,
  workers = 8,
  capMs = 15_000,
): Promise<Ended[]> {
  let stopped = false;
  const ended: Ended[] = [];
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((r) => (resolveAll = r));
  let left = workers;
  const worker = async (): Promise<void> => {
    for (;;) {
      const startedStopped = stopped;
      const r = await call();
      // A call begun before the stop may still end OK: its answer was written before the
      // process stopped and sat unread in the socket. Only its next call tells.
      if (startedStopped || (stopped && r.code !== grpc.status.OK)) {
        ended.push({ ...r, state: procState(pid) });
        if (--left === 0) resolveAll();
        return;
      }
      if (!stopped && r.code !== grpc.status.OK)
        throw new Error(`a call failed before the stop: ${r.code} ${r.details}`);
    }
  };
  const running = Array.from({ length: workers }, worker);
  for (const w of running) w.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  process.kill(pid, "SIGSTOP");
  // SIGSTOP takes effect asynchronously: count calls as begun while stopped only once /proc says so.
  for (let i = 0; i < 200 && procState(pid) !== "T"; i++) await new Promise((r) => setTimeout(r, 5));
  stopped = true;
  await Promise.race([all, new Promise((r) => setTimeout(r, capMs).unref())]);
  return ended;
}

function assertFailedWhileStopped(ended: Ended[], workers: number): void {
  assert.equal(ended.length, workers, `every call in flight ended while the plugin was stopped (${ended.length})`);
  for (const e of ended) {
    assert.equal(e.code, grpc.status.UNAVAILABLE, e.details);
    assert.match(e.details, /TRANSPORT_KEEPALIVE_TIMEOUT/);
    assert.equal(e.state, "T", "the process was still stopped when the call failed");
  }
}

describe("transport: keepalive finds a plugin that stopped answering", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir("pka-")));
  afterEach(() => tmp.remove());

  describe("a TypeScript server (PodplugServer)", () => {
    let server: ServerProcess | undefined;
    let channel: PodplugChannel | undefined;
    afterEach(async () => {
      if (server?.proc.pid) process.kill(server.proc.pid, "SIGCONT");
      channel?.close();
      await server?.stop();
      server = undefined;
    });

    const connect = async (opts: PodplugChannelOptions = {}): Promise<EchoClientInstance> => {
      const socket = join(tmp.dir, "s.sock");
      server = await startServer("podplug", socket);
      channel = new PodplugChannel(socket, opts);
      return new EchoClient("unused", creds, { channelOverride: channel });
    };
    const outcome = async (c: EchoClientInstance, sleepMs: number) => {
      const o = await unary(c, "unary", { text: "x", sleepMs });
      return { code: o.err?.code ?? grpc.status.OK, details: o.err?.details ?? "" };
    };

    it("calls in flight fail UNAVAILABLE while it is stopped; after SIGCONT calls succeed again", async () => {
      const client = await connect();
      const pid = server!.proc.pid!;
      assertFailedWhileStopped(await stopUnderLoad(pid, () => outcome(client, 20)), 8);
      // Calls made while it is still stopped fail the same way (a new connection, never answered).
      const during = await outcome(client, 0);
      assert.equal(during.code, grpc.status.UNAVAILABLE, during.details);
      assert.equal(procState(pid), "T");
      process.kill(pid, "SIGCONT");
      const after = await outcome(client, 0);
      assert.equal(after.code, grpc.status.OK, after.details);
    });

    it("leaves a slow call to a live server alone", async () => {
      const client = await connect({ keepalive: { timeMs: 50 } });
      assert.equal((await outcome(client, 1500)).code, grpc.status.OK);
    });

    it("a slow call whose server answered a PING and then stopped fails too (the quiet spell's strike PING)", async () => {
      const client = await connect();
      assert.equal((await outcome(client, 0)).code, grpc.status.OK);
      const pid = server!.proc.pid!;
      // The call's server sleeps 3 s: keepalive PINGs after 150 ms of silence and the live server answers it.
      const slow = outcome(client, 3000);
      await new Promise((r) => setTimeout(r, 600));
      process.kill(pid, "SIGSTOP");
      for (let i = 0; i < 200 && procState(pid) !== "T"; i++) await new Promise((r) => setTimeout(r, 5));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        slow,
        new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), 2500))),
      ]);
      clearTimeout(timer);
      assert.ok(r, "the slow call still waited 2.5 s after the stop");
      assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
      assert.match(r.details, /TRANSPORT_KEEPALIVE_TIMEOUT/);
      assert.equal(procState(pid), "T", "the server was still stopped when the call failed");
    });

    it("keepalive: false leaves calls to a stopped server waiting (what the default prevents)", async () => {
      const client = await connect({ keepalive: false });
      assert.equal((await outcome(client, 0)).code, grpc.status.OK);
      const pid = server!.proc.pid!;
      process.kill(pid, "SIGSTOP");
      let settled = false;
      const p = outcome(client, 0).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(settled, false, "without keepalive nothing ends the call");
      process.kill(pid, "SIGCONT");
      assert.equal((await p).code, grpc.status.OK);
    });
  });

  describe("go-plugin's Go kv plugin (grpc-go server)", () => {
    let plugin: StartedPlugin | undefined;
    let channel: PodplugChannel | undefined;
    before(function () {
      this.timeout(15 * 60_000); // a cold cache builds the Go peers first
      goPeersDir();
    });
    afterEach(async () => {
      if (plugin) process.kill(plugin.pid, "SIGCONT");
      channel?.close();
      await plugin?.stop();
      plugin = undefined;
    });

    const connect = async (opts: PodplugChannelOptions = {}): Promise<InstanceType<typeof KVClient>> => {
      plugin = startPlugin(goPeer("goplugin"), [], {
        BASIC_PLUGIN: "hello",
        PLUGIN_PROTOCOL_VERSIONS: "1",
        PLUGIN_UNIX_SOCKET_DIR: tmp.dir,
      });
      const address = (await plugin.line).split("|")[3]!;
      channel = new PodplugChannel(address, opts);
      return new KVClient("unused", creds, { channelOverride: channel });
    };
    const get = (kv: InstanceType<typeof KVClient>, key: string) =>
      new Promise<{ code: number; details: string; value?: string }>((resolve) =>
        kv.get({ key }, (e: grpc.ServiceError | null, r?: GetResponse) =>
          resolve({ code: e?.code ?? grpc.status.OK, details: e?.details ?? "", value: r?.value.toString() }),
        ),
      );

    it("calls in flight fail UNAVAILABLE while it is stopped; after SIGCONT calls succeed again", async () => {
      const kv = await connect();
      assertFailedWhileStopped(await stopUnderLoad(plugin!.pid, () => get(kv, "sleep:20")), 8);
      process.kill(plugin!.pid, "SIGCONT");
      assert.equal((await get(kv, "sleep:0")).value, "slept");
    });

    it("never sends GOAWAY too_many_pings for the default keepalive over a long quiet call", async () => {
      const kv = await connect({ keepalive: { timeMs: 100 } });
      const r = await get(kv, "sleep:3000");
      assert.equal(r.code, grpc.status.OK, r.details);
      assert.equal(r.value, "slept");
    });

    it("does send it to a keepalive that pings a quiet call again and again (grpc-go's enforcement is real)", async () => {
      const kv = await connect({ keepalive: { timeMs: 100, minPingIntervalMs: 0 } });
      const r = await get(kv, "sleep:3000");
      assert.equal(r.code, grpc.status.UNAVAILABLE);
      assert.match(r.details, /GOAWAY \(code 11\): too_many_pings/);
    });
  });
});
