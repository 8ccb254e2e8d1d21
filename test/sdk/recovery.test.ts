/**
 * Auto-recovery in the host SDK: the dispensed client survives its plugin's
 * death, hang or NOT_SERVING; outages fail fast or wait, as chosen; broker
 * callbacks and initialisation come back through onConnect; crash loops back off.
 */
import assert from "node:assert/strict";
import { unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake, type KV, kvPlugin, kvServer } from "../../examples/kv/shared.ts";
import { KVClient, KVService } from "../../src/gen/examples/kv/kv.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { alive, captureLogger, fixture, NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

const testPlugin = { command: NODE, args: [fixture("test-plugin.ts")] };
const fastLiveness = { periodMs: 200, timeoutMs: 200, failureThreshold: 2 };
const fastBackoff = { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 };

async function pidOf(kv: KV): Promise<number> {
  return Number((await kv.get("pid")).toString());
}

function grpcCode(err: unknown): number | undefined {
  return (err as grpc.ServiceError).code;
}

describe("auto-recovery of plugin clients", function () {
  this.timeout(60_000);

  it("SIGKILL under steady load: every call succeeds or fails with UNAVAILABLE, none hangs, and the client recovers", async () => {
    const { logger } = captureLogger();
    const registry = new Registry();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      name: "kv",
      logger,
      backoff: fastBackoff,
      metricsRegistry: registry,
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("v"));
      const first = await pidOf(kv);
      const seen = { ok: 0, unavailable: 0, other: [] as string[] };
      let stop = false;
      const callers = Array.from({ length: 8 }, async () => {
        while (!stop) {
          // The typed client has no deadline of its own; race a generous one so a hang would show as "other".
          const r = await Promise.race([
            kv.get("pid").then(
              () => "ok",
              (e: unknown) =>
                grpcCode(e) === grpc.status.UNAVAILABLE
                  ? "unavailable"
                  : `code ${grpcCode(e)}: ${(e as Error).message}`,
            ),
            new Promise<string>((r) => setTimeout(() => r("hung"), 15_000)),
          ]);
          if (r === "ok") seen.ok++;
          else if (r === "unavailable") seen.unavailable++;
          else seen.other.push(r);
          await new Promise((r) => setImmediate(r));
        }
      });
      await waitFor(() => seen.ok > 50, 10_000, "load to run");
      process.kill(first, "SIGKILL");
      await waitFor(async () => client.state === "ready" && client.restartCount === 1, 20_000, "restart");
      const okBefore = seen.ok;
      await waitFor(() => seen.ok > okBefore + 50, 10_000, "calls to succeed again");
      stop = true;
      await Promise.all(callers);
      assert.deepEqual(seen.other, [], "every call either succeeded or failed with UNAVAILABLE");
      assert.ok(seen.unavailable > 0, "the outage was seen as UNAVAILABLE");
      assert.notEqual(await pidOf(kv), first, "the same dispensed client talks to a new process");
      assert.equal(alive(first), false);
      const text = await registry.metrics();
      assert.match(text, /podplug_plugin_restarts_total\{plugin="kv"\} 1/);
      assert.match(text, /podplug_plugin_up\{plugin="kv"\} 1/);
      assert.match(text, /podplug_host_calls_total\{plugin="kv",service="proto.KV",method="Get",code="OK"\} \d+/);
      assert.match(
        text,
        /podplug_host_calls_total\{plugin="kv",service="proto.KV",method="Get",code="UNAVAILABLE"\} \d+/,
      );
    } finally {
      await client.kill();
    }
  });

  it("outage mode: fail-fast answers UNAVAILABLE at once; wait holds the call until the new process answers", async () => {
    const t = tempDir();
    const crashFile = join(t.dir, "crash");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { ...testPlugin, env: { TEST_CRASH_FILE: crashFile } },
      logger: captureLogger().logger,
      backoff: { initialMs: 100, maxMs: 100 },
      outage: { mode: "wait", maxWaitMs: 20_000 },
    });
    try {
      const kv = await client.dispense("kv");
      const raw = new KVClient("unused", grpc.credentials.createInsecure(), {
        channelOverride:
          (await client.connection()) && (client as unknown as { channel: grpc.ChannelInterface }).channel,
      });
      writeFileSync(crashFile, ""); // keep the plugin down while we look
      process.kill(await pidOf(kv), "SIGKILL");
      await waitFor(() => client.state !== "ready", 10_000, "outage");
      // Per call: fail-fast by metadata, even though the client waits by default.
      const md = new grpc.Metadata();
      md.set("x-podplug-outage", "fail-fast");
      const failFast = await new Promise<grpc.ServiceError | null>((r) => raw.get({ key: "pid" }, md, (e) => r(e)));
      assert.equal(failFast?.code, grpc.status.UNAVAILABLE);
      assert.match(failFast?.details ?? "", /unavailable \(restarting\)/);
      // A waiting call with a short deadline gives up at its deadline, with DEADLINE_EXCEEDED.
      const short = await new Promise<grpc.ServiceError | null>((r) =>
        raw.get({ key: "pid" }, new grpc.Metadata(), { deadline: Date.now() + 300 }, (e) => r(e)),
      );
      assert.equal(short?.code, grpc.status.DEADLINE_EXCEEDED);
      // The client's default (wait): this call is held, then answered by the new process.
      const waiting = kv.get("pid");
      await new Promise((r) => setTimeout(r, 300));
      unlinkSync(crashFile);
      const pid = Number((await waiting).toString());
      assert.ok(alive(pid));
      raw.close();
    } finally {
      await client.kill();
      t.remove();
    }
  });

  it("a hung plugin (SIGSTOP) fails its liveness checks and is replaced", async () => {
    const { logger, records } = captureLogger();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      logger,
      liveness: fastLiveness,
      backoff: fastBackoff,
    });
    try {
      const kv = await client.dispense("kv");
      const first = await pidOf(kv);
      process.kill(first, "SIGSTOP");
      // Calls sent to the hung process: each must end UNAVAILABLE when the host kills it, none may hang.
      const held = Array.from({ length: 4 }, () =>
        kv.get("pid").then(
          (v) => `answered ${v.toString()}`,
          (e: unknown) => (grpcCode(e) === grpc.status.UNAVAILABLE ? "unavailable" : `code ${grpcCode(e)}`),
        ),
      );
      await waitFor(() => client.restartCount === 1 && client.state === "ready", 20_000, "restart after hang");
      assert.deepEqual(await Promise.all(held), ["unavailable", "unavailable", "unavailable", "unavailable"]);
      assert.ok(
        records.some((r) => r.msg === "plugin failed; restarting it" && /liveness check failed/.test(String(r.reason))),
      );
      assert.notEqual(await pidOf(kv), first);
      assert.equal(alive(first), false, "the hung process was killed");
    } finally {
      await client.kill();
    }
  });

  it("a plugin that answers nothing for 2 s right after its handshake still starts: the start timeout judges it, not the keepalive", async () => {
    const { logger, records } = captureLogger("debug");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { ...testPlugin, env: { TEST_STALL_MS: "2000" } },
      logger,
      backoff: fastBackoff,
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal(await pidOf(kv), client.pid, "the process that printed the handshake answers");
      assert.equal(client.restartCount, 0);
      // The keepalive (≈0.85 s) did drop the silent connection at least once; the start went on.
      assert.ok(records.some((r) => r.msg === "plugin slow to answer its first health check; trying again"));
    } finally {
      await client.kill();
    }
  });

  it("a plugin reporting NOT_SERVING is restarted at once (health Watch, not polling)", async () => {
    const { logger, records } = captureLogger();
    // Liveness polling effectively off: only the Watch stream can notice.
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      logger,
      liveness: { periodMs: 600_000 },
      backoff: fastBackoff,
    });
    try {
      const kv = await client.dispense("kv");
      const first = await pidOf(kv);
      // The reply may lose the race with the restart it triggers; only the restart matters here.
      await kv.get("unhealthy").catch(() => undefined);
      await waitFor(() => client.restartCount === 1 && client.state === "ready", 20_000, "restart after NOT_SERVING");
      assert.ok(records.some((r) => r.reason === "plugin reported NOT_SERVING"));
      assert.notEqual(await pidOf(kv), first);
    } finally {
      await client.kill();
    }
  });

  it("a crash-looping plugin backs off exponentially up to the cap, is reported as such, and recovers", async () => {
    const t = tempDir();
    const crashFile = join(t.dir, "crash");
    const { logger, records } = captureLogger();
    const registry = new Registry();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { ...testPlugin, env: { TEST_CRASH_FILE: crashFile } },
      name: "kv",
      logger,
      metricsRegistry: registry,
      backoff: { initialMs: 50, factor: 2, maxMs: 400, crashLoopAfter: 3 },
    });
    try {
      const kv = await client.dispense("kv");
      writeFileSync(crashFile, "");
      process.kill(await pidOf(kv), "SIGKILL");
      await waitFor(() => client.state === "crash-loop", 20_000, "crash-loop state");
      await waitFor(
        () => records.filter((r) => r.msg === "plugin is crash-looping; backing off").length >= 3,
        20_000,
        "several crash-loop rounds",
      );
      assert.match(await registry.metrics(), /podplug_plugin_state\{plugin="kv",state="crash-loop"\} 1/);
      unlinkSync(crashFile);
      await waitFor(() => client.state === "ready", 20_000, "recovery");
      await kv.get("pid");
      // The delays the supervisor chose, in order: doubling from 50 ms, capped at 400 ms.
      const delays = records.filter((r) => r.msg === "plugin is crash-looping; backing off").map((r) => r.delayMs);
      assert.deepEqual(delays.slice(0, 3), [200, 400, 400]);
      const firstTwo = records.filter((r) => r.msg === "plugin restart failed").length;
      assert.ok(firstTwo >= 2, "failed restarts were logged");
    } finally {
      await client.kill();
      t.remove();
    }
  });

  it("broker callbacks work again after a restart: per-call ones and those served once in onConnect", async () => {
    const t = tempDir();
    const counter = new Client({
      handshake: counterHandshake,
      plugins: { counter: counterPlugin() },
      cmd: { command: NODE, args: [`${ROOT}/examples/counter/plugin.ts`], cwd: t.dir },
      logger: captureLogger().logger,
      backoff: fastBackoff,
      outage: { mode: "wait" },
    });
    const kvHost = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      logger: captureLogger().logger,
      backoff: fastBackoff,
      outage: { mode: "wait" },
    });
    // Served once per connection: the plugin keeps the id and calls back later.
    const hostStore: KV = { get: async (k) => Buffer.from(`host says ${k}`), put: async () => {} };
    kvHost.onConnect(async ({ broker, connection }) => {
      const id = broker.nextId();
      await broker.acceptAndServe(id, (s) => s.addService(KVService, kvServer(hostStore)));
      const c = connection.client(KVClient);
      await new Promise<void>((res, rej) =>
        c.put({ key: "helper", value: Buffer.from(String(id)) }, (e) => (e ? rej(e) : res())),
      );
    });
    try {
      const c = await counter.dispense("counter");
      const add = { sum: async (a: bigint, b: bigint) => a + b };
      await c.put("n", 2n, add);
      const kv = await kvHost.dispense("kv");
      assert.equal((await kv.get("ask-helper:x")).toString(), "host says x");

      const counterPid = (await counter.start()).pid!;
      process.kill(counterPid, "SIGKILL");
      process.kill(await pidOf(kv), "SIGKILL");
      await waitFor(() => counter.restartCount === 1 && kvHost.restartCount === 1, 20_000, "both restarted");

      await c.put("n", 3n, add); // a new callback through the new process's broker
      assert.equal(await c.get("n"), 5n, "state on disk plus the callback's sum");
      assert.equal((await kv.get("ask-helper:y")).toString(), "host says y", "onConnect re-served the host's service");
    } finally {
      await counter.kill();
      await kvHost.kill();
      t.remove();
    }
  });

  it("restart: false means stopped and says so; restart: true comes back — both policies side by side", async () => {
    const { logger, records } = captureLogger();
    const opts = { handshake, plugins: { kv: kvPlugin() }, cmd: testPlugin, logger, backoff: fastBackoff };
    const off = new Client({ ...opts, name: "kv-off", restart: false });
    const on = new Client({ ...opts, name: "kv-on" });
    try {
      const [kvOff, kvOn] = await Promise.all([off.dispense("kv"), on.dispense("kv")]);
      const [pidOff, pidOn] = await Promise.all([pidOf(kvOff), pidOf(kvOn)]);
      process.kill(pidOff, "SIGKILL");
      process.kill(pidOn, "SIGKILL");
      await waitFor(() => off.state === "stopped", 10_000, "restart: false to stop");
      await waitFor(() => on.state === "ready" && on.restartCount === 1, 20_000, "restart: true to restart");

      // Stopped: calls fail with FAILED_PRECONDITION and a sentence saying it will not restart; none says "restarting".
      await assert.rejects(kvOff.get("pid"), (err: unknown) => {
        assert.equal(grpcCode(err), grpc.status.FAILED_PRECONDITION);
        assert.match(
          (err as grpc.ServiceError).details,
          /plugin kv-off has stopped \(process exited \(signal SIGKILL\)\) and will not restart/,
        );
        assert.doesNotMatch((err as Error).message, /restarting|retry later/);
        return true;
      });
      // dispense() and start() throw the coded error instead of handing back the dead client.
      for (const attempt of [() => off.dispense("kv"), () => off.start(), () => off.ping()]) {
        await assert.rejects(attempt(), (err: unknown) => {
          assert.ok(isPodplugError(err, "PLUGIN_STOPPED"), String(err));
          assert.match(err.message, /will not restart: the client was created with restart: false/);
          assert.deepEqual(err.details.exit, { code: null, signal: "SIGKILL" });
          return true;
        });
      }
      // Its state and last exit are observable.
      assert.equal(off.state, "stopped");
      assert.deepEqual(off.lastExit, { code: null, signal: "SIGKILL" });
      assert.equal(off.stopReason, "process exited (signal SIGKILL)");
      assert.equal(off.restartCount, 0);
      assert.equal(alive(pidOff), false);
      assert.ok(
        records.some((r) => r.plugin === "kv-off" && r.msg === "plugin failed; restart is off, the client stays down"),
      );
      assert.ok(!records.some((r) => r.plugin === "kv-off" && r.msg === "plugin failed; restarting it"));

      // The other policy, same failure: a new process answers on the same dispensed client.
      assert.notEqual(await pidOf(kvOn), pidOn);
      assert.equal(on.state, "ready");
      assert.equal(on.stopReason, undefined);
      assert.deepEqual(on.lastExit, { code: null, signal: "SIGKILL" }, "the last exit is the killed process's");
      assert.equal(await on.dispense("kv"), kvOn);
    } finally {
      await Promise.all([off.kill(), on.kill()]);
    }
  });

  it("restart: false under outage mode wait: a call is answered with the stop at once, not held until maxWaitMs", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: testPlugin,
      logger: captureLogger().logger,
      restart: false,
      outage: { mode: "wait", maxWaitMs: 30_000 },
    });
    try {
      const kv = await client.dispense("kv");
      const pid = await pidOf(kv);
      process.kill(pid, "SIGKILL");
      await waitFor(() => client.state === "stopped", 10_000, "stopped state");
      const t0 = performance.now();
      await assert.rejects(kv.get("pid"), (err: unknown) => grpcCode(err) === grpc.status.FAILED_PRECONDITION);
      assert.ok(performance.now() - t0 < 10_000, "answered by the stop, not by maxWaitMs");
    } finally {
      await client.kill();
    }
  });
});
