/**
 * The standby option on real plugin processes: a spare instance kept set up
 * beside the active one takes calls as soon as the active one dies, before
 * anything is restarted; a dead spare is replaced without touching calls; with
 * both dead the client takes its normal restart path. cmd mode (a spare
 * process) and attach mode (a standby sidecar in its own folder).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { handshake, type KV, kvPlugin } from "../../examples/kv/shared.ts";
import { KVClient } from "../../src/gen/examples/kv/kv.ts";
import { Client, type ConnectContext, sidecarAttach } from "../../src/host/index.ts";
import { alive, captureLogger, fixture, NODE, startSidecar, stopProcess, tempDir, waitFor } from "../helpers.ts";

const fastBackoff = { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 };

async function pidOf(kv: KV): Promise<number> {
  return Number((await kv.get("pid")).toString());
}

function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => `${grpc.status[(e as grpc.ServiceError).code] ?? "?"}`,
  );
}

/** A client whose plugin needs put("config") before it serves (TEST_NEEDS_CONFIG), set up by onConnect. */
function standbyClient(env: Record<string, string>, hooks: ConnectContext[]) {
  const client = new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: { command: NODE, args: [fixture("test-plugin.ts")], env: { TEST_NEEDS_CONFIG: "1", ...env } },
    name: "kv",
    standby: true,
    logger: captureLogger().logger,
    backoff: fastBackoff,
    metricsRegistry: new Registry(),
  });
  client.onConnect(async (ctx) => {
    hooks.push(ctx);
    const c = ctx.connection.client(KVClient);
    await new Promise<void>((res, rej) =>
      c.put({ key: "config", value: Buffer.from("set-up") }, (err) => (err ? rej(err) : res())),
    );
  });
  return client;
}

describe("standby instances", function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("SIGKILL of the active process: calls in flight fail UNAVAILABLE, the next calls succeed on the set-up spare while no new process can start, and the spare is replaced", async () => {
    const crash = join(t.dir, "crash");
    const hooks: ConnectContext[] = [];
    const client = standbyClient({ TEST_CRASH_FILE: crash }, hooks);
    try {
      const kv = await client.dispense("kv");
      const active = await pidOf(kv);
      await waitFor(() => client.standbyReady, 20_000, "the spare to be ready");
      const spare = client.standbyPid!;
      assert.notEqual(spare, active);
      // From now on every new process of this plugin exits at start: nothing can be restarted.
      writeFileSync(crash, "");
      const inFlight = [1, 2, 3].map(() => outcome(kv.get("sleep:3000")));
      await new Promise((r) => setTimeout(r, 100));
      process.kill(active, "SIGKILL");
      assert.deepEqual(await Promise.all(inFlight), ["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
      // The calls after the switch: answered by the spare, configured by onConnect, while the old process is dead
      // and no replacement exists.
      await waitFor(() => client.failoverCount === 1, 5_000, "the failover");
      const after = await Promise.all(Array.from({ length: 20 }, () => pidOf(kv)));
      assert.deepEqual(new Set(after), new Set([spare]));
      assert.equal((await kv.get("config")).toString(), "set-up", "onConnect ran on the spare before it took calls");
      assert.equal(alive(active), false);
      assert.equal(client.standbyReady, false, "no replacement spare could start yet (the crash file)");
      assert.equal(client.state, "ready");
      // Let processes start again: a new spare comes up, set up too, and the active one is untouched.
      rmSync(crash);
      await waitFor(() => client.standbyReady, 20_000, "the replacement spare");
      const replacement = client.standbyPid!;
      assert.ok(![active, spare].includes(replacement));
      assert.equal(await pidOf(kv), spare);
      assert.deepEqual(
        hooks.map((h) => h.standby),
        [false, true, true],
        "hooks ran on the first active, the first spare and the replacement spare",
      );
      // The replacement takes over in its turn.
      process.kill(spare, "SIGKILL");
      await waitFor(async () => client.failoverCount === 2 && (await pidOf(kv)) === replacement, 5_000, "2nd failover");
    } finally {
      await client.kill();
    }
  });

  it("a dead spare is replaced without disturbing calls to the active process", async () => {
    const hooks: ConnectContext[] = [];
    const client = standbyClient({}, hooks);
    try {
      const kv = await client.dispense("kv");
      const active = await pidOf(kv);
      await waitFor(() => client.standbyReady, 20_000, "the spare");
      const spare = client.standbyPid!;
      const seen: string[] = [];
      let stop = false;
      const load = (async () => {
        while (!stop) seen.push(await outcome(kv.get("pid")));
      })();
      await waitFor(() => seen.length > 20, 10_000, "load");
      process.kill(spare, "SIGKILL");
      await waitFor(() => client.standbyPid !== undefined && client.standbyPid !== spare, 20_000, "a new spare");
      const n = seen.length;
      await waitFor(() => seen.length > n + 20, 10_000, "more calls");
      stop = true;
      await load;
      assert.deepEqual(new Set(seen), new Set(["ok"]), "every call succeeded");
      assert.equal(await pidOf(kv), active);
      assert.equal(client.failoverCount, 0);
      assert.equal(client.restartCount, 0);
      assert.equal(alive(spare), false);
    } finally {
      await client.kill();
    }
  });

  it("both processes die: the normal restart path brings calls back, and a spare again", async () => {
    const client = standbyClient({}, []);
    try {
      const kv = await client.dispense("kv");
      const active = await pidOf(kv);
      await waitFor(() => client.standbyReady, 20_000, "the spare");
      const spare = client.standbyPid!;
      process.kill(spare, "SIGKILL");
      process.kill(active, "SIGKILL");
      await waitFor(
        async () => {
          try {
            return ![active, spare].includes(await pidOf(kv));
          } catch {
            return false;
          }
        },
        20_000,
        "a call to succeed on a new process",
      );
      assert.equal((await kv.get("config")).toString(), "set-up");
      await waitFor(() => client.standbyReady, 20_000, "a spare again");
      assert.ok(![active, spare, await pidOf(kv)].includes(client.standbyPid!));
      assert.ok(client.restartCount >= 1);
    } finally {
      await client.kill();
    }
    assert.equal(client.standbyPid, undefined);
  });

  it("kill() stops the spare process too", async () => {
    const client = standbyClient({}, []);
    const kv = await client.dispense("kv");
    await kv.get("config");
    await waitFor(() => client.standbyReady, 20_000, "the spare");
    const spare = client.standbyPid!;
    await client.kill();
    assert.equal(alive(spare), false);
  });

  it("refuses standby where nothing could replace the plugin, and in attach mode without a standby folder", () => {
    const base = { handshake, plugins: { kv: kvPlugin() }, standby: true, logger: captureLogger().logger };
    const cases: [string, () => unknown, RegExp][] = [
      ["restart: false", () => new Client({ ...base, cmd: { command: NODE }, restart: false }), /restart: false/],
      [
        "reattach",
        () =>
          new Client({
            ...base,
            reattach: {
              protocol: "grpc",
              protocolVersion: 1,
              addr: { network: "unix", address: "/x" },
              pid: 1,
              test: true,
            },
          }),
        /reattach/,
      ],
      ["attach without standbyDir", () => new Client({ ...base, attach: { dir: t.dir } }), /attach\.standbyDir/],
    ];
    for (const [what, make, message] of cases) assert.throws(make, { code: "CONFIG_INVALID", message }, what);
  });

  it("attach mode: sidecarAttach() attaches to <root>/<name> and <root>/<name>-standby; a dead sidecar's calls go to the other, and the restarted one becomes the spare", async () => {
    const primaryDir = join(t.dir, "kv");
    const standbyDir = join(t.dir, "kv-standby");
    mkdirSync(primaryDir);
    mkdirSync(standbyDir);
    const env = { PODPLUG_SOCKET_ROOT: t.dir, PODPLUG_PLUGINS: "kv", PODPLUG_STANDBY: "kv" };
    const attach = sidecarAttach("kv", env);
    assert.equal(attach.standbyDir, standbyDir);
    assert.equal(sidecarAttach("kv", { ...env, PODPLUG_STANDBY: "other" }).standbyDir, undefined);
    let primary = startSidecar(primaryDir, { TEST_NEEDS_CONFIG: "1" });
    let second = startSidecar(standbyDir, { TEST_NEEDS_CONFIG: "1" });
    const hooks: ConnectContext[] = [];
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach,
      logger: captureLogger().logger,
      backoff: fastBackoff,
      metricsRegistry: new Registry(),
    });
    client.onConnect(async (ctx) => {
      hooks.push(ctx);
      const c = ctx.connection.client(KVClient);
      await new Promise<void>((res, rej) =>
        c.put({ key: "config", value: Buffer.from("x") }, (e) => (e ? rej(e) : res())),
      );
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal(await pidOf(kv), primary.pid);
      await waitFor(() => client.standbyReady, 20_000, "the standby sidecar to be attached");
      const inFlight = [1, 2, 3, 4].map(() => outcome(kv.get("sleep:3000")));
      await new Promise((r) => setTimeout(r, 100));
      primary.kill("SIGKILL");
      await waitFor(() => client.failoverCount === 1, 5_000, "the failover");
      assert.deepEqual(await Promise.all(inFlight), ["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
      // Nothing serves in the primary's folder now: the calls are the standby sidecar's.
      assert.equal(await pidOf(kv), second.pid);
      assert.equal(client.state, "ready");
      // Four failed calls (over the threshold of 3) on the dead instance leave the pod ready: calls work.
      const state = JSON.parse(readFileSync(join(primaryDir, "host-state.json"), "utf8")) as { state: string };
      assert.equal(state.state, "ready");
      // The kubelet restarts the primary: it becomes the spare.
      if (primary.exitCode === null && primary.signalCode === null) await once(primary, "exit");
      primary = startSidecar(primaryDir, { TEST_NEEDS_CONFIG: "1" });
      await waitFor(() => client.standbyReady, 20_000, "the restarted sidecar as the spare");
      second.kill("SIGKILL");
      await waitFor(async () => client.failoverCount === 2 && (await pidOf(kv)) === primary.pid, 5_000, "back");
      assert.deepEqual(
        hooks.map((h) => h.standby),
        [false, true, true],
      );
      // A live instance that reports NOT_SERVING is dropped too, gracefully: the calls it still had finish.
      if (second.exitCode === null && second.signalCode === null) await once(second, "exit");
      second = startSidecar(standbyDir, { TEST_NEEDS_CONFIG: "1" });
      await waitFor(() => client.standbyReady, 20_000, "the standby sidecar, again");
      const cut = [1, 2, 3, 4].map(() => outcome(kv.get("sleep:3000")));
      await new Promise((r) => setTimeout(r, 100));
      await kv.get("unhealthy");
      await waitFor(() => client.failoverCount === 3, 5_000, "the failover off the NOT_SERVING instance");
      assert.deepEqual(await Promise.all(cut), ["ok", "ok", "ok", "ok"]);
      assert.equal(await pidOf(kv), second.pid);
      const after = JSON.parse(readFileSync(join(primaryDir, "host-state.json"), "utf8")) as { state: string };
      assert.equal(after.state, "ready");
    } finally {
      await client.kill();
      await stopProcess(primary);
      await stopProcess(second);
    }
  });
});
