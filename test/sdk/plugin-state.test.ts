/**
 * Plugin state across a restart: a restarted plugin comes back empty, and
 * onConnect rebuilds it before any call is let through. Proven under load,
 * across 20 SIGKILLs, with calls in flight and queued, in both outage modes,
 * with a plugin that refuses every call until it is configured.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { handshake, type KV, kvPlugin } from "../../examples/kv/shared.ts";
import { KVClient } from "../../src/gen/examples/kv/kv.ts";
import { Client, isPodplugError, type OutageMode } from "../../src/host/index.ts";
import { alive, captureLogger, fixture, NODE, waitFor } from "../helpers.ts";

const statefulPlugin = { command: NODE, args: [fixture("test-plugin.ts")], env: { TEST_NEEDS_CONFIG: "1" } };
const KILLS = 20;

function put(c: InstanceType<typeof KVClient>, key: string, value: string): Promise<void> {
  return new Promise((res, rej) => c.put({ key, value: Buffer.from(value) }, (err) => (err ? rej(err) : res())));
}

/** What the callers saw, by outcome. */
interface Seen {
  ok: number;
  unavailable: number;
  deadline: number;
  other: string[];
}

/** Runs `n` callers on `kv` until `stop()`; each call has a deadline, so a hang shows as DEADLINE_EXCEEDED. */
function load(kv: KV, n: number): { seen: Seen; stop: () => Promise<void> } {
  const seen: Seen = { ok: 0, unavailable: 0, deadline: 0, other: [] };
  let stopping = false;
  const callers = Array.from({ length: n }, async () => {
    while (!stopping) {
      try {
        const v = await kv.get("config");
        if (v.toString() === "configured") seen.ok++;
        else seen.other.push(`answered ${JSON.stringify(v.toString())}`);
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        if (code === grpc.status.UNAVAILABLE) seen.unavailable++;
        else if (code === grpc.status.DEADLINE_EXCEEDED) seen.deadline++;
        else seen.other.push(`${code}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  });
  return {
    seen,
    stop: async () => {
      stopping = true;
      await Promise.all(callers);
    },
  };
}

describe("plugin state across a restart: onConnect rebuilds it before calls get through", function () {
  this.timeout(240_000);

  for (const mode of ["fail-fast", "wait"] as OutageMode[]) {
    it(`${KILLS} SIGKILLs under load, outage mode ${mode}: no call ever reaches an unconfigured process`, async () => {
      const { logger } = captureLogger("info");
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: statefulPlugin,
        logger,
        name: `stateful-${mode}`,
        outage: { mode, maxWaitMs: 20_000 },
        backoff: { initialMs: 20, maxMs: 200, resetAfterMs: 1 },
      });
      const configured: number[] = [];
      client.onConnect(async ({ connection, restarts }) => {
        // Slow on purpose: a call let through before the hook ends would meet a process without its state.
        await new Promise((r) => setTimeout(r, 30));
        await put(connection.client(KVClient), "config", "configured");
        configured.push(restarts);
      });
      const pids: number[] = [];
      try {
        const kv = await client.dispense("kv");
        const { seen, stop } = load(kv, 6);
        try {
          for (let i = 0; i < KILLS; i++) {
            const okBefore = seen.ok;
            await waitFor(() => seen.ok > okBefore + 5, 30_000, `calls to succeed before kill ${i + 1}`);
            const pid = client.pid!;
            pids.push(pid);
            process.kill(pid, "SIGKILL");
            await waitFor(() => client.restartCount === i + 1 && client.state === "ready", 30_000, `restart ${i + 1}`);
          }
          const okBefore = seen.ok;
          await waitFor(() => seen.ok > okBefore + 5, 30_000, "calls after the last restart");
        } finally {
          await stop();
        }
        assert.deepEqual(seen.other, [], "every call was answered by a configured process, or failed UNAVAILABLE");
        assert.equal(seen.deadline, 0, "no call hung");
        assert.deepEqual(
          configured,
          Array.from({ length: KILLS + 1 }, (_, i) => i),
          "the hook ran once per process",
        );
        assert.equal(new Set(pids).size, KILLS, "each kill hit a new process");
        for (const pid of pids) assert.equal(alive(pid), false);
        if (mode === "fail-fast") assert.ok(seen.unavailable > 0, "fail-fast: the outages were seen as UNAVAILABLE");
      } finally {
        await client.kill();
      }
    });
  }

  it("a hook that fails is reported and retried with back-off on a new process until it succeeds", async () => {
    const { logger, records } = captureLogger("info");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: statefulPlugin,
      logger,
      name: "hook-fails",
      outage: { mode: "wait", maxWaitMs: 30_000 },
      backoff: { initialMs: 100, factor: 2, maxMs: 1000, resetAfterMs: 60_000 },
    });
    let failuresLeft = 0;
    const attempts: { restarts: number; at: number; pid: number }[] = [];
    client.onConnect(async ({ connection, restarts }) => {
      attempts.push({ restarts, at: performance.now(), pid: client.pid ?? -1 });
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error("the config service is down");
      }
      await put(connection.client(KVClient), "config", "configured");
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal((await kv.get("config")).toString(), "configured");
      failuresLeft = 3;
      const first = client.pid!;
      process.kill(first, "SIGKILL");
      await waitFor(() => client.state !== "ready", 10_000, "the outage");
      const waiting = kv.get("config"); // queued through the outage (mode wait)
      assert.equal((await waiting).toString(), "configured", "the queued call met a configured process");
      assert.equal(client.restartCount, 1);
      const failed = records.filter((r) => r.msg === "plugin restart failed");
      assert.equal(failed.length, 3, "each failed hook is reported");
      for (const r of failed) {
        assert.equal(r.code, "CONNECT_HOOK_FAILED");
        assert.match(String(r.err), /an onConnect hook failed: the config service is down\. No call was let through/);
      }
      // Back-off between the attempts: 100, 200, 400 ms (each a new process: the failed one is killed).
      const retries = attempts.slice(1);
      assert.equal(retries.length, 4);
      assert.equal(new Set(retries.map((a) => a.pid)).size, 4, "each attempt ran on a new process");
      for (let i = 1; i < retries.length; i++) {
        const gap = retries[i]!.at - retries[i - 1]!.at;
        assert.ok(gap >= 100 * 2 ** (i - 1), `attempt ${i + 1} came ${Math.round(gap)} ms after the one before`);
      }
    } finally {
      await client.kill();
    }
  });

  it("a hook that fails on the first start rejects dispense() with CONNECT_HOOK_FAILED and leaves no process", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: statefulPlugin,
      logger: captureLogger().logger,
    });
    let pid: number | undefined;
    client.onConnect(() => {
      pid = client.pid;
      throw new Error("bad settings");
    });
    await assert.rejects(client.dispense("kv"), (err: unknown) => {
      assert.ok(isPodplugError(err, "CONNECT_HOOK_FAILED"), String(err));
      assert.match(
        err.message,
        /an onConnect hook failed: bad settings\. No call was let through to this process; the start fails\./,
      );
      assert.equal((err.cause as Error).message, "bad settings");
      return true;
    });
    assert.ok(pid !== undefined && !alive(pid), "the process the hook failed on is gone");
    await client.kill();
    assert.equal(client.state, "stopped");
  });
});
