/**
 * Issue 4, case 6: PLUGIN_MULTIPLEX_GRPC. podplug has no yamux broker, so it
 * refuses multiplexing clearly in both directions; Go ↔ Go is the control
 * that shows the Go peers really ask for and do multiplex.
 */
import assert from "node:assert/strict";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { tempDir } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, ROOT, runPeer, startPlugin } from "./peers.ts";

describe("interop: PLUGIN_MULTIPLEX_GRPC (case 6)", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  it("a TS plugin asked to multiplex answers `false` in the 7th field (a Go plugin answers `true`)", async () => {
    const env = { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1", PLUGIN_MULTIPLEX_GRPC: "true" };
    const ts = startPlugin(process.execPath, [`${ROOT}/test/interop/fixtures/log-plugin.ts`], env);
    const go = startPlugin(goPeer("goplugin"), [], env);
    try {
      assert.match(await ts.line, /^1\|1\|unix\|[^|]+\|grpc\|\|false$/);
      assert.match(await go.line, /^1\|1\|unix\|[^|]+\|grpc\|\|true$/);
    } finally {
      await ts.stop();
      await go.stop();
    }
  });

  it("a Go host asking for multiplexing gets go-plugin's clear refusal from a TS plugin", async () => {
    const r = await runPeer("gohost", ["-mux", "-cmd", nodeCommand("test/interop/fixtures/log-plugin.ts"), "ping"]);
    assert.equal(r.code, 1, explain(r));
    assert.equal(
      eventsOf(r, "error")[0]?.error,
      "client requested gRPC broker multiplexing but plugin does not support the feature",
    );
  });

  it("a TS host asking for multiplexing is refused with MULTIPLEX_UNSUPPORTED before any plugin starts", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      multiplex: true,
      logger: pino({ level: "silent" }),
    });
    try {
      await assert.rejects(
        client.start(),
        (err: unknown) => isPodplugError(err, "MULTIPLEX_UNSUPPORTED") && /PLUGIN_MULTIPLEX_GRPC/.test(err.message),
      );
    } finally {
      await client.kill();
    }
  });

  it("control: Go host ↔ Go plugin do multiplex, callbacks included", async () => {
    const work = tempDir("pm-");
    try {
      const r = await runPeer("gohost-counter", ["-mux", "-cmd", goPeer("bidir-plugin"), "put", "m", "3", "get", "m"], {
        cwd: work.dir,
      });
      assert.equal(r.code, 0, explain(r));
      assert.equal(eventsOf(r, "callback").length, 1);
      assert.equal(eventsOf(r, "get")[0]?.value, 3);
    } finally {
      work.remove();
    }
  });
});
