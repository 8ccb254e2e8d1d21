/**
 * client.reload() (issue 13, "reload one plugin"): the plugin is asked to
 * shut down and the client is connected to its next process, on real
 * processes — a TS plugin and go-plugin's Go plugin started by the host, and
 * a sidecar that `podplug run` restarts (attach mode). The old process is
 * gone, onConnect ran again, calls reach the new process.
 */
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { type LocalRun, run } from "../../src/local/run.ts";
import { alive, fixture, NODE, ROOT, tempDir } from "../helpers.ts";
import { goPeer, goPeersDir } from "../interop/peers.ts";
import { idlePodYaml, testPluginYaml } from "../local/manifests.ts";

const quiet = pino({ level: "silent" });

describe("client.reload()", function () {
  this.timeout(120_000);
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  for (const kind of ["TS", "Go"] as const)
    it(`cmd mode, ${kind} plugin: a new process, the old one gone, onConnect run again, calls succeed`, async () => {
      const dir = tempDir("rl-");
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd:
          kind === "TS"
            ? { command: NODE, args: [fixture("test-plugin.ts")] }
            : { command: goPeer("goplugin"), env: { KV_DIR: dir.dir } },
        logger: quiet,
      });
      const hooks: number[] = [];
      client.onConnect(({ restarts }) => void hooks.push(restarts));
      try {
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("v"));
        const first = client.pid!;
        await client.reload();
        assert.notEqual(client.pid, first);
        assert.equal(alive(first), false, "the old process exited");
        assert.deepEqual(hooks, [0, 1], "onConnect ran on the new process");
        assert.equal(client.state, "ready");
        if (kind === "TS")
          assert.equal(Number((await kv.get("pid")).toString()), client.pid, "calls reach the new process");
        await kv.put("k", Buffer.from("w"));
        assert.match((await kv.get("k")).toString(), /^w/);
      } finally {
        await client.kill();
        dir.remove();
      }
    });

  it("attach mode under podplug run: the runtime restarts the sidecar and the client re-attaches to it", async () => {
    const t = tempDir("rla-");
    chmodSync(t.dir, 0o711);
    writeFileSync(join(t.dir, "plugins.yaml"), `${testPluginYaml("h")}---\n${idlePodYaml("h")}`);
    let lr: LocalRun | undefined;
    let client: Client<{ kv: ReturnType<typeof kvPlugin> }> | undefined;
    try {
      lr = await run({
        files: [t.dir],
        cwd: ROOT,
        stateDir: join(t.dir, "s"),
        metricsPort: 0,
        view: false,
        logger: quiet,
        backoff: { initialMs: 100, maxMs: 400, crashLoopAfter: 5 },
      });
      const sidecar = lr.pods[0]!.containers.find((c) => c.spec.name === "podplug-kv")!;
      client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        attach: { dir: join(lr.stateDir, "h", "v", "podplug-sockets", "kv") },
        logger: quiet,
      });
      const kv = await client.dispense("kv");
      const first = Number((await kv.get("pid")).toString());
      await client.reload();
      const second = Number((await kv.get("pid")).toString());
      assert.notEqual(second, first, "calls reach a new process");
      assert.equal(alive(first), false);
      assert.ok(sidecar.restarts >= 1, "the runtime restarted the container");
    } finally {
      await client?.kill();
      await lr?.stop();
      t.remove();
    }
  });

  it("refuses a client that neither restarts nor re-attaches", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: NODE, args: [fixture("test-plugin.ts")] },
      logger: quiet,
      restart: false,
    });
    try {
      await client.start();
      await assert.rejects(client.reload(), { code: "CONFIG_INVALID" });
    } finally {
      await client.kill();
    }
  });
});
