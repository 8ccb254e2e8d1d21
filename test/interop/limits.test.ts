/**
 * Message size limits as go-plugin sets them: hosts dial with MaxInt32 both
 * ways, plugins keep gRPC's default 4 MiB receive limit. A TS plugin must
 * accept and refuse exactly what a Go plugin does.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, runPeer } from "./peers.ts";

const MiB = 1024 * 1024;

describe("interop: message size limits match go-plugin's", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  for (const [lang, cmd] of [
    ["Go", () => goPeer("goplugin")],
    ["TS", () => nodeCommand("test/interop/fixtures/log-plugin.ts")],
  ] as const) {
    it(`Go host → ${lang} plugin: 3 MiB passes both ways, 5 MiB is refused RESOURCE_EXHAUSTED by the plugin`, async () => {
      const r = await runPeer("gohost", [
        "-lengths",
        "-cmd",
        cmd(),
        "putn",
        "a",
        String(3 * MiB),
        "get",
        "a",
        "putn",
        "b",
        String(5 * MiB),
      ]);
      assert.equal(eventsOf(r, "get")[0]?.length, 3 * MiB, explain(r));
      const err = eventsOf(r, "error")[0];
      assert.equal(err?.op, "putn", explain(r));
      assert.match(
        String(err?.error),
        /^rpc error: code = ResourceExhausted desc = .*larger than max \(5242888 vs\.? 4194304\)/,
      );
    });
  }

  it("TS host → Go plugin: the same limits", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      logger: pino({ level: "silent" }),
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("a", Buffer.alloc(3 * MiB, "x"));
      assert.equal((await kv.get("a")).length, 3 * MiB);
      await assert.rejects(
        kv.put("b", Buffer.alloc(5 * MiB, "x")),
        (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED,
      );
      // The connection survives the refusal.
      assert.equal((await kv.get("a")).length, 3 * MiB);
    } finally {
      await client.kill();
    }
  });
});
