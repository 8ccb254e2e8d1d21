/**
 * Issue 4, cases 1 and 2: go-plugin's own examples/grpc and
 * examples/bidirectional programs, built unmodified from the module, against
 * podplug's TypeScript kv and counter plugins and hosts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake as kvHandshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { tempDir } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, runPeer, shq } from "./peers.ts";

const quiet = pino({ level: "silent" });

describe("interop: go-plugin's examples ↔ podplug (cases 1, 2)", () => {
  let tmp: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => (tmp = tempDir("pi-")));
  afterEach(() => tmp.remove());

  describe("examples/grpc (kv)", () => {
    it("the Go example host puts and gets through the TypeScript kv plugin", async () => {
      const env = { KV_PROTO: "grpc", KV_PLUGIN: `exec ${nodeCommand("examples/kv/plugin.ts")}` };
      const put = await runPeer("grpc-host", ["put", "greeting", "hello from go"], { env, cwd: tmp.dir });
      assert.equal(put.code, 0, explain(put));
      // The TS plugin stores like the Go one, with its own signature.
      assert.equal(readFileSync(`${tmp.dir}/kv_greeting`, "utf8"), "hello from go\n\nWritten from plugin-ts-grpc");
      const get = await runPeer("grpc-host", ["get", "greeting"], { env, cwd: tmp.dir });
      assert.equal(get.code, 0, explain(get));
      assert.equal(get.stdout, "hello from go\n\nWritten from plugin-ts-grpc\n");
    });

    it("the Go example host reports the TypeScript plugin's error for a missing key", async () => {
      const env = { KV_PROTO: "grpc", KV_PLUGIN: `exec ${nodeCommand("examples/kv/plugin.ts")}` };
      const get = await runPeer("grpc-host", ["get", "missing"], { env, cwd: tmp.dir });
      assert.equal(get.code, 1, explain(get));
      assert.match(get.stdout, /^error: rpc error: code = Unknown desc = .*kv_missing/);
    });

    it("podplug's host puts and gets through the Go example kv plugin", async () => {
      const client = new Client({
        handshake: kvHandshake,
        plugins: { kv: kvPlugin() },
        cmd: { command: goPeer("grpc-plugin"), cwd: tmp.dir },
        logger: quiet,
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("greeting", Buffer.from("hello from ts"));
        assert.equal((await kv.get("greeting")).toString(), "hello from ts\n\nWritten from plugin-go-grpc");
        await assert.rejects(kv.get("missing"), /kv_missing/);
      } finally {
        await client.kill();
      }
    });

    it("podplug's example host program drives the Go example kv plugin (KV_PLUGIN)", async () => {
      const { spawnSync } = await import("node:child_process");
      const env = { ...process.env, KV_DIR: tmp.dir, KV_PLUGIN: `exec ${shq(goPeer("grpc-plugin"))}` };
      const opts = { cwd: tmp.dir, env, encoding: "utf8" as const, timeout: 60_000 };
      const put = spawnSync(
        process.execPath,
        [`${import.meta.dirname}/../../examples/kv/host.ts`, "put", "k", "v1"],
        opts,
      );
      assert.equal(put.status, 0, put.stdout + put.stderr);
      const get = spawnSync(process.execPath, [`${import.meta.dirname}/../../examples/kv/host.ts`, "get", "k"], opts);
      assert.equal(get.status, 0, get.stdout + get.stderr);
      assert.equal(get.stdout, "v1\n\nWritten from plugin-go-grpc\n");
    });
  });

  describe("examples/bidirectional (counter, broker callback)", () => {
    it("the Go example host adds through the TypeScript counter plugin, which calls back into the Go host", async () => {
      const env = { COUNTER_PLUGIN: `exec ${nodeCommand("examples/counter/plugin.ts")}` };
      for (const n of ["5", "37"]) {
        const put = await runPeer("bidir-host", ["put", "total", n], { env, cwd: tmp.dir });
        assert.equal(put.code, 0, explain(put));
      }
      const get = await runPeer("bidir-host", ["get", "total"], { env, cwd: tmp.dir });
      assert.equal(get.code, 0, explain(get));
      assert.equal(get.stdout, "42\n");
    });

    it("each callback runs in the Go host (gohost reports every AddHelper.Sum it serves)", async () => {
      const r = await runPeer(
        "gohost-counter",
        ["-cmd", nodeCommand("examples/counter/plugin.ts"), "put", "c", "2", "put", "c", "3", "get", "c"],
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

    it("podplug's host serves the callback the Go example counter plugin dials back", async () => {
      const client = new Client({
        handshake: counterHandshake,
        plugins: { counter: counterPlugin() },
        cmd: { command: goPeer("bidir-plugin"), cwd: tmp.dir },
        logger: quiet,
      });
      const calls: [bigint, bigint][] = [];
      const helper = {
        sum: async (a: bigint, b: bigint) => {
          calls.push([a, b]);
          return a + b;
        },
      };
      try {
        const counter = await client.dispense("counter");
        await counter.put("total", 40n, helper);
        await counter.put("total", 2n, helper);
        assert.equal(await counter.get("total"), 42n);
        assert.deepEqual(calls, [
          [0n, 40n],
          [40n, 2n],
        ]);
      } finally {
        await client.kill();
      }
      // Same file format on both sides: the Go plugin's counter reads back in the TS plugin.
      assert.equal(readFileSync(`${tmp.dir}/kv_total`, "utf8"), `{"Value":42}`);
      const env = { COUNTER_PLUGIN: `exec ${nodeCommand("examples/counter/plugin.ts")}` };
      const get = await runPeer("bidir-host", ["get", "total"], { env, cwd: tmp.dir });
      assert.equal(get.stdout, "42\n", explain(get));
    });
  });
});
