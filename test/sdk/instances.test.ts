/**
 * Two instances of the same plugin in one host: two Clients of one plugin
 * binary, each with its own process, socket folder, restarts and metrics.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { Registry } from "prom-client";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { captureLogger, fixture, NODE, waitFor } from "../helpers.ts";

const testPlugin = { command: NODE, args: [fixture("test-plugin.ts")] };

function metric(text: string, name: string, plugin: string, extra = ""): number | undefined {
  const re = new RegExp(`^${name}\\{plugin="${plugin.replace(/[.]/g, "\\.")}"${extra}\\} (\\S+)$`, "m");
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe("two instances of the same plugin in one host", function () {
  this.timeout(60_000);

  it("each has its own process, socket, restarts and metrics; killing one leaves the other serving", async () => {
    const { logger, records } = captureLogger("info");
    const registry = new Registry();
    const common = {
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      logger,
      metricsRegistry: registry,
      backoff: { initialMs: 50 },
    };
    const a = new Client(common);
    const b = new Client(common);
    try {
      assert.deepEqual([a.name, b.name], ["test-plugin.ts", "test-plugin.ts-2"], "the default name is made distinct");
      const [kvA, kvB] = await Promise.all([a.dispense("kv"), b.dispense("kv")]);
      await kvA.put("who", Buffer.from("a"));
      await kvB.put("who", Buffer.from("b"));
      assert.equal((await kvA.get("who")).toString(), "a");
      assert.equal((await kvB.get("who")).toString(), "b", "separate processes, separate state");
      const [infoA, infoB] = [await a.start(), await b.start()];
      assert.notEqual(infoA.pid, infoB.pid);
      assert.notEqual(dirname(infoA.handshake.address), dirname(infoB.handshake.address), "each its own socket folder");

      // B keeps answering through A's outage and restart.
      let bFailures = 0;
      let bCalls = 0;
      let stop = false;
      const bLoad = (async () => {
        while (!stop) {
          await kvB.get("who").then(
            () => bCalls++,
            () => bFailures++,
          );
        }
      })();
      process.kill(infoA.pid!, "SIGKILL");
      await waitFor(() => a.restartCount === 1 && a.state === "ready", 20_000, "A to restart");
      const after = bCalls;
      await waitFor(() => bCalls > after + 20, 10_000, "B to keep answering");
      stop = true;
      await bLoad;
      assert.equal(bFailures, 0, "B saw no failure");
      assert.equal(b.restartCount, 0);
      assert.equal(b.pid, infoB.pid);
      assert.notEqual(a.pid, infoA.pid);

      const text = await registry.metrics();
      assert.equal(metric(text, "podplug_plugin_restarts_total", a.name), 1);
      assert.equal(metric(text, "podplug_plugin_restarts_total", b.name), 0);
      assert.equal(metric(text, "podplug_plugin_up", a.name), 1);
      assert.equal(metric(text, "podplug_plugin_up", b.name), 1);
      const callsB = metric(text, "podplug_host_calls_total", b.name, ',service="proto.KV",method="Get",code="OK"');
      assert.ok(callsB !== undefined && callsB >= bCalls, `B's calls counted under its own name (${callsB})`);
      assert.ok(records.some((r) => r.plugin === a.name && r.msg === "plugin restarted and reconnected"));
      assert.ok(!records.some((r) => r.plugin === b.name && r.msg === "plugin restarted and reconnected"));
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  it("a name given twice to live clients of one registry is refused; once the first is killed it is free", async () => {
    const registry = new Registry();
    const opts = { handshake, plugins: { kv: kvPlugin() }, cmd: testPlugin, name: "kv", metricsRegistry: registry };
    const first = new Client(opts);
    assert.throws(
      () => new Client(opts),
      (err: unknown) => isPodplugError(err, "CONFIG_INVALID") && /another live client is named "kv"/.test(err.message),
    );
    await first.kill();
    const again = new Client(opts);
    assert.equal(again.name, "kv");
    await again.kill();
  });
});
