/**
 * `podplug run` with a Plugin's `spec.standby`: the shared injection's second
 * sidecar runs locally too, serving in its own folder, and a host attached to
 * both folders fails over when the runtime's plugin process is SIGKILLed; the
 * runtime restarts it and it becomes the spare.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import type { LocalContainer } from "../../src/local/container.ts";
import { type LocalRun, run } from "../../src/local/run.ts";
import { captureLogger, ROOT, tempDir, waitFor } from "../helpers.ts";
import { testPluginYaml } from "./manifests.ts";

describe("podplug run: spec.standby", function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  let r: LocalRun | undefined;
  beforeEach(() => {
    t = tempDir();
    chmodSync(t.dir, 0o711);
    r = undefined;
  });
  afterEach(async () => {
    await r?.stop();
    t.remove();
  });

  it("runs podplug-kv and podplug-kv-standby in their own folders; the host fails over between them as the runtime restarts the dead one", async () => {
    writeFileSync(join(t.dir, "plugins.yaml"), testPluginYaml("sleeper", { extra: ["standby: true"] }));
    writeFileSync(
      join(t.dir, "host.yaml"),
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: sleeper, labels: {app: sleeper}}
spec:
  selector: {matchLabels: {app: sleeper}}
  template:
    metadata: {labels: {app: sleeper}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: host, image: example/host:1, command: [node, -e, "setInterval(() => {}, 1000)"]}
`,
    );
    const lr = await run({
      files: [t.dir],
      cwd: ROOT,
      stateDir: join(t.dir, "s"),
      metricsPort: 0,
      view: false,
      logger: captureLogger("info").logger,
      backoff: { initialMs: 100, maxMs: 400, crashLoopAfter: 3 },
    });
    r = lr;
    assert.deepEqual(
      lr.pods[0]!.containers.map((c) => `${c.spec.name}:${c.spec.role}`),
      ["podplug-kv:plugin", "podplug-kv-standby:plugin", "host:host"],
    );
    const sockets = join(lr.stateDir, "sleeper", "v", "podplug-sockets");
    await waitFor(
      () => existsSync(join(sockets, "kv", "handshake")) && existsSync(join(sockets, "kv-standby", "handshake")),
      60_000,
      "both instances' handshake files",
    );
    const container = (name: string): LocalContainer => lr.pods[0]!.containers.find((c) => c.spec.name === name)!;
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: join(sockets, "kv"), standbyDir: join(sockets, "kv-standby") },
      logger: captureLogger().logger,
      backoff: { initialMs: 50, maxMs: 400 },
      metricsRegistry: new Registry(),
    });
    try {
      const kv = await client.dispense("kv");
      const pid = async (): Promise<number> => Number((await kv.get("pid")).toString());
      assert.equal(await pid(), container("podplug-kv").pid);
      await waitFor(() => client.standbyReady, 30_000, "the standby sidecar attached");
      const primary = container("podplug-kv");
      const first = primary.pid!;
      process.kill(first, "SIGKILL");
      await waitFor(() => client.failoverCount === 1, 10_000, "the failover");
      assert.equal(await pid(), container("podplug-kv-standby").pid);
      await waitFor(() => primary.restarts === 1 && primary.state === "running", 30_000, "the runtime's restart");
      await waitFor(() => client.standbyReady, 30_000, "the restarted sidecar as the spare");
      assert.notEqual(primary.pid, first);
    } finally {
      await client.kill();
    }
  });
});
