/**
 * The gRPC broker between a host and a plugin process, both directions, and
 * what bad broker ids do.
 */
import assert from "node:assert/strict";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { KVClient } from "../../src/gen/examples/kv/kv.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { captureLogger, fixture, NODE, ROOT, tempDir } from "../helpers.ts";

describe("gRPC broker between processes", function () {
  this.timeout(30_000);

  it("host → plugin → host: the counter plugin calls the host's AddHelper back", async () => {
    const t = tempDir();
    const client = new Client({
      handshake: counterHandshake,
      plugins: { counter: counterPlugin() },
      cmd: { command: NODE, args: [`${ROOT}/examples/counter/plugin.ts`], cwd: t.dir },
      logger: captureLogger().logger,
    });
    try {
      const counter = await client.dispense("counter");
      const seen: [bigint, bigint][] = [];
      const helper = {
        sum: async (a: bigint, b: bigint) => {
          seen.push([a, b]);
          return a + b;
        },
      };
      await counter.put("c", 5n, helper);
      await counter.put("c", 7n, helper);
      assert.equal(await counter.get("c"), 12n);
      assert.deepEqual(
        seen,
        [
          [0n, 5n],
          [5n, 7n],
        ],
        "each put went through the host's callback",
      );
      // A callback that fails surfaces as the plugin's error, and nothing hangs.
      await assert.rejects(
        counter.put("c", 1n, { sum: async () => Promise.reject(new Error("host refuses to add")) }),
        /host refuses to add/,
      );
    } finally {
      await client.kill();
      t.remove();
    }
  });

  it("plugin → host: the plugin serves a service by broker id and the host dials it", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: NODE, args: [fixture("test-plugin.ts")] },
      logger: captureLogger().logger,
    });
    try {
      const kv = await client.dispense("kv");
      const id = Number((await kv.get("serve-back")).toString());
      assert.ok(id >= 1);
      const conn = await client.connection();
      const back = await conn.broker.dialClient(id, KVClient);
      const r = await new Promise<{ value: Buffer }>((res, rej) =>
        back.get({ key: "from" }, (err, v) => (err ? rej(err) : res(v))),
      );
      assert.equal(r.value.toString(), "plugin");
      back.close();
      // The same id twice: the announcement was claimed; a clear error, at once.
      await assert.rejects(conn.broker.dial(id), (err: Error) => isPodplugError(err, "BROKER_ID_IN_USE"));
    } finally {
      await client.kill();
    }
  });

  it("unknown, invalid and reused ids get coded errors, never a hang", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: NODE, args: [fixture("test-plugin.ts")] },
      logger: captureLogger().logger,
    });
    try {
      const conn = await client.connection();
      await assert.rejects(
        conn.broker.dial(4242, 300),
        (err: Error) => isPodplugError(err, "BROKER_TIMEOUT") && /broker id 4242/.test(err.message),
      );
      for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
        await assert.rejects(conn.broker.dial(bad), { code: "BROKER_ID_INVALID" });
        await assert.rejects(
          conn.broker.acceptAndServe(bad, () => {}),
          { code: "BROKER_ID_INVALID" },
        );
      }
      const id = conn.broker.nextId();
      const served = await conn.broker.acceptAndServe(id, () => {});
      await assert.rejects(
        conn.broker.acceptAndServe(id, () => {}),
        { code: "BROKER_ID_IN_USE" },
      );
      served.close();
      // A dial still waiting when the connection ends fails with BROKER_CLOSED.
      const pending = conn.broker.dial(9999, 20_000);
      conn.broker.close();
      await assert.rejects(pending, { code: "BROKER_CLOSED" });
    } finally {
      await client.kill();
    }
  });
});
