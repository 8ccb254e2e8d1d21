/**
 * Issue 4, case 8: graceful shutdown across languages — controller Shutdown
 * from either side, and a Go host's Kill() on a TS plugin leaves no process
 * and no socket behind.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { alive, waitFor } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, type PeerResult, runPeer } from "./peers.ts";

/** The plugin's pid, from go-plugin's "plugin started" log line (sh execs the plugin). */
function pluginPid(r: PeerResult): number {
  const pid = r.logs.find((l) => l["@message"] === "plugin started")?.pid;
  assert.equal(typeof pid, "number", explain(r));
  return pid as number;
}

describe("interop: graceful shutdown across languages (case 8)", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  it("Kill() from a Go host on a TS plugin: the plugin exits, its socket is gone", async () => {
    const r = await runPeer("gohost", [
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts"),
      "put",
      "k",
      "v",
      "kill",
    ]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "kill")[0]?.exited, true);
    const pid = pluginPid(r);
    await waitFor(() => !alive(pid), 5000, "the TS plugin to be gone");
    assert.ok(!existsSync(String(eventsOf(r, "started")[0]?.addr)), "socket left behind");
  });

  it("controller Shutdown from a Go host (ClientProtocol.Close) ends the TS plugin, which go-plugin sees exit", async () => {
    const r = await runPeer("gohost", [
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts"),
      "ping",
      "close",
      "wait-exit",
    ]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "exited")[0]?.exited, true, explain(r));
    const exit = r.logs.find((l) => l["@message"] === "plugin process exited");
    assert.ok(exit && exit["@level"] === "info", `the TS plugin did not exit 0 after Shutdown:\n${explain(r)}`);
    assert.ok(!existsSync(String(eventsOf(r, "started")[0]?.addr)), "socket left behind");
  });

  it("kill() from the TS host on a Go plugin: controller Shutdown, the Go process exits, its socket is gone", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      logger: pino({ level: "silent" }),
    });
    const info = await client.start();
    await (await client.dispense("kv")).put("k", Buffer.from("v"));
    assert.ok(info.pid && alive(info.pid));
    await client.kill();
    assert.ok(!alive(info.pid), "the Go plugin is still running");
    assert.ok(!existsSync(info.handshake.address), "the Go plugin's socket is left behind");
  });

  it("a Go host's Kill() after the TS plugin already shut down returns, and nothing is left", async () => {
    const r = await runPeer("gohost", [
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts"),
      "ping",
      "close",
      "wait-exit",
      "kill",
    ]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "kill")[0]?.exited, true);
    assert.ok(!alive(pluginPid(r)));
  });
});
