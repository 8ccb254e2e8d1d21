/**
 * Issue 11: GRPCBrokerMultiplex (PLUGIN_MULTIPLEX_GRPC, go-plugin ≥ 1.6) in
 * both directions against go-plugin's real Go peers: the main connection and
 * every broker callback ride one yamux session on the plugin's socket.
 * Go ↔ Go is the control. Misbehaving multiplexing peers get coded errors
 * and leave nothing running.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { pino } from "pino";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { alive, tempDir } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, ROOT, runPeer, startPlugin } from "./peers.ts";

const quiet = pino({ level: "silent" });
const sum = (calls: [bigint, bigint][]) => ({
  sum: async (a: bigint, b: bigint) => {
    calls.push([a, b]);
    return a + b;
  },
});

describe("interop: GRPCBrokerMultiplex (PLUGIN_MULTIPLEX_GRPC)", () => {
  let tmp: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => (tmp = tempDir("pm-")));
  afterEach(() => tmp.remove());

  it("a TS plugin asked to multiplex answers `true` in the 7th field, as a Go plugin does; unasked, it has 6 fields", async () => {
    const env = { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1", PLUGIN_MULTIPLEX_GRPC: "true" };
    const ts = startPlugin(process.execPath, [`${ROOT}/test/interop/fixtures/log-plugin.ts`], env);
    const go = startPlugin(goPeer("goplugin"), [], env);
    const plain = startPlugin(process.execPath, [`${ROOT}/test/interop/fixtures/log-plugin.ts`], {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
    });
    try {
      assert.match(await ts.line, /^1\|1\|unix\|[^|]+\|grpc\|\|true$/);
      assert.match(await go.line, /^1\|1\|unix\|[^|]+\|grpc\|\|true$/);
      assert.match(await plain.line, /^1\|1\|unix\|[^|]+\|grpc\|$/);
    } finally {
      await ts.stop();
      await go.stop();
      await plain.stop();
    }
  });

  it("mux-go-host-ts-plugin: a Go host with GRPCBrokerMultiplex pings and calls a TS plugin", async () => {
    const r = await runPeer(
      "gohost",
      ["-mux", "-cmd", nodeCommand("examples/kv/plugin.ts"), "put", "k", "v", "get", "k"],
      {
        cwd: tmp.dir,
        env: { KV_DIR: tmp.dir },
      },
    );
    assert.equal(r.code, 0, explain(r));
    // The example plugin appends its signature to the value, as go-plugin's does.
    assert.match(String(eventsOf(r, "get")[0]?.value), /^v\n/, explain(r));
  });

  it("mux-go-host-ts-plugin-callback: the TS plugin's callbacks into the multiplexing Go host ride the yamux session", async () => {
    const r = await runPeer(
      "gohost-counter",
      ["-mux", "-cmd", nodeCommand("examples/counter/plugin.ts"), "put", "c", "2", "put", "c", "3", "get", "c"],
      { cwd: tmp.dir },
    );
    assert.equal(r.code, 0, explain(r));
    assert.deepEqual(
      eventsOf(r, "callback").map((e) => [e.a, e.b]),
      [
        [0, 2],
        [2, 3],
      ],
    );
    assert.equal(eventsOf(r, "get")[0]?.value, 5);
  });

  it("mux-go-host-ts-plugin-mtls: AutoMTLS inside the yamux streams, callbacks included", async () => {
    const r = await runPeer(
      "gohost-counter",
      ["-mux", "-automtls", "-cmd", nodeCommand("examples/counter/plugin.ts"), "put", "t", "4", "get", "t"],
      { cwd: tmp.dir },
    );
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "callback").length, 1, explain(r));
    assert.equal(eventsOf(r, "get")[0]?.value, 4);
  });

  for (const autoMTLS of [false, true]) {
    it(`mux-ts-host-go-plugin${autoMTLS ? "-mtls" : ""}: a TS host multiplexes with go-plugin's bidirectional plugin, serving its callbacks`, async () => {
      const client = new Client({
        handshake: counterHandshake,
        plugins: { counter: counterPlugin() },
        cmd: { command: goPeer("bidir-plugin"), cwd: tmp.dir },
        multiplex: true,
        autoMTLS,
        logger: quiet,
      });
      const calls: [bigint, bigint][] = [];
      try {
        const info = await client.start();
        assert.equal(info.handshake.multiplex, true);
        const counter = await client.dispense("counter");
        await counter.put("total", 40n, sum(calls));
        await counter.put("total", 2n, sum(calls));
        assert.equal(await counter.get("total"), 42n);
        assert.deepEqual(calls, [
          [0n, 40n],
          [40n, 2n],
        ]);
        await client.ping();
      } finally {
        await client.kill();
      }
      assert.equal(client.pid, undefined);
    });
  }

  it("mux-ts-host-go-plugin-flow: 3 MiB each way through go-plugin's yamux (12× its stream window), 16 calls in flight", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      multiplex: true,
      logger: quiet,
    });
    try {
      const kv = await client.dispense("kv");
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      big.write("start", 0);
      await kv.put("big", big);
      assert.ok((await kv.get("big")).equals(big));
      const small = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          await kv.put(`k${i}`, Buffer.from(`v${i}`));
          return (await kv.get(`k${i}`)).toString();
        }),
      );
      assert.deepEqual(
        small,
        Array.from({ length: 16 }, (_, i) => `v${i}`),
      );
    } finally {
      await client.kill();
    }
  });

  it("mux-ts-host-ts-plugin: TS ↔ TS multiplexed, callbacks and many calls in flight", async () => {
    const client = new Client({
      handshake: counterHandshake,
      plugins: { counter: counterPlugin() },
      cmd: { command: process.execPath, args: [`${ROOT}/examples/counter/plugin.ts`], env: { KV_DIR: tmp.dir } },
      multiplex: true,
      logger: quiet,
    });
    const calls: [bigint, bigint][] = [];
    try {
      const counter = await client.dispense("counter");
      await Promise.all(Array.from({ length: 8 }, (_, i) => counter.put(`k${i}`, BigInt(i + 1), sum(calls))));
      const got = await Promise.all(Array.from({ length: 8 }, (_, i) => counter.get(`k${i}`)));
      assert.deepEqual(got, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
      assert.equal(calls.length, 8);
    } finally {
      await client.kill();
    }
  });

  it("mux-bad-no-field: a TS host asking a plugin without multiplexing support gets MULTIPLEX_UNSUPPORTED and the plugin is stopped", async () => {
    // The fixture prints a 6-field line whatever it is asked: an old (< 1.6) go-plugin.
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: process.execPath, args: [`${ROOT}/test/interop/fixtures/mux-rogue.ts`, "old"] },
      multiplex: true,
      logger: quiet,
    });
    let pid: number | undefined;
    try {
      await assert.rejects(client.start(), (err: unknown) => {
        pid = (err as { details?: { pid?: number } }).details?.pid;
        return isPodplugError(err, "MULTIPLEX_UNSUPPORTED") && /7th field/.test((err as Error).message);
      });
    } finally {
      await client.kill();
    }
    assert.equal(client.pid, undefined);
    if (pid) assert.equal(alive(pid), false);
  });

  it("mux-bad-frames: a plugin that answers the yamux session with garbage fails the start with MULTIPLEX_PROTOCOL, nothing left running", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: process.execPath, args: [`${ROOT}/test/interop/fixtures/mux-rogue.ts`, "garbage"] },
      socketDir: tmp.dir,
      multiplex: true,
      startTimeoutMs: 30_000, // a bound, not a wait: the bad frame ends the start long before
      restart: false,
      logger: quiet,
    });
    let seen: unknown;
    try {
      await client.start().catch((err: unknown) => (seen = err));
    } finally {
      await client.kill();
    }
    assert.ok(isPodplugError(seen, "MULTIPLEX_PROTOCOL"), String(seen));
    assert.match((seen as Error).message, /unsupported frame version 7/);
    assert.equal(client.pid, undefined);
    // The host's splice sockets are gone with the connection.
    assert.deepEqual(
      readdirSync(tmp.dir).filter((n) => n.startsWith("mux")),
      [],
    );
  });

  it("mux-bad-knock: a TS plugin knocking for an id the multiplexing Go host never served gets go-plugin's knock timeout; the call fails with it", async () => {
    const r = await runPeer(
      "gohost-counter",
      [
        "-mux",
        "-cmd",
        nodeCommand("test/interop/fixtures/mux-rogue.ts", "knock-unserved"),
        "put",
        "c",
        "1",
        "get",
        "c",
      ],
      { cwd: tmp.dir },
    );
    assert.equal(r.code, 1, explain(r));
    assert.match(
      String(eventsOf(r, "error")[0]?.error),
      /timeout waiting for multiplexing knock handshake on id 1001 after 5000 ms/,
      explain(r),
    );
  });

  it("mux-attach-refused: multiplex with attach is refused with MULTIPLEX_UNSUPPORTED before anything connects (go-plugin refuses it with Reattach)", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: tmp.dir, protocolVersion: 1 },
      multiplex: true,
      startTimeoutMs: 1000,
      logger: quiet,
    });
    try {
      await assert.rejects(client.start(), (err: unknown) => isPodplugError(err, "MULTIPLEX_UNSUPPORTED"));
    } finally {
      await client.kill();
    }
  });

  it("control: Go host ↔ Go plugin do multiplex, callbacks included", async () => {
    const r = await runPeer("gohost-counter", ["-mux", "-cmd", goPeer("bidir-plugin"), "put", "m", "3", "get", "m"], {
      cwd: tmp.dir,
    });
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "callback").length, 1);
    assert.equal(eventsOf(r, "get")[0]?.value, 3);
  });
});
