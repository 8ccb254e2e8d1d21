/**
 * Go plugin faults, with go-plugin's own examples/grpc plugin and test/go's
 * goplugin, started by the TS host: SIGKILL under load, SIGSTOP, a Go panic,
 * an exit during the handshake, a plugin that never prints one, and a
 * SIGKILLed host — a Go plugin does not watch its parent, so what kills it is
 * PR_SET_PDEATHSIG alone (the control, without it, survives).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { handshake, type KV, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { sweepDeadHostDirs } from "../../src/host/socket-dir.ts";
import { PDEATHSIG_AVAILABLE } from "../../src/process/spawn.ts";
import { alive, captureLogger, fixture, NODE, ROOT, tempDir, waitFor } from "../helpers.ts";
import { type GoPeer, goPeer, goPeersDir } from "./peers.ts";

const fastLiveness = { periodMs: 200, timeoutMs: 200, failureThreshold: 2 };
const fastBackoff = { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 };

interface Seen {
  ok: number;
  unavailable: number;
  other: string[];
}

/** Callers that get `key` with a 10 s deadline each, until stopped: every call's outcome is counted. */
function load(kv: KV, key: string, n: number, expect: string): { seen: Seen; stop: () => Promise<void> } {
  const seen: Seen = { ok: 0, unavailable: 0, other: [] };
  let stopping = false;
  const callers = Array.from({ length: n }, async () => {
    while (!stopping) {
      const r = await Promise.race([
        kv.get(key).then(
          (v) => (v.toString() === expect ? "ok" : `answered ${JSON.stringify(v.toString())}`),
          (e: grpc.ServiceError) =>
            e.code === grpc.status.UNAVAILABLE ? "unavailable" : `code ${e.code}: ${e.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r("hung for 20 s"), 20_000).unref()),
      ]);
      if (r === "ok") seen.ok++;
      else if (r === "unavailable") {
        seen.unavailable++;
        await new Promise((r) => setTimeout(r, 5));
      } else seen.other.push(r);
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

describe("Go plugin faults, seen from the TS host", function () {
  this.timeout(120_000);
  let work: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => (work = tempDir("pg-")));
  afterEach(() => work.remove());

  const goClient = (peer: GoPeer, args: string[] = [], extra: Record<string, unknown> = {}) => {
    const { logger, records } = captureLogger();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer(peer), args, cwd: work.dir },
      name: peer,
      logger,
      liveness: fastLiveness,
      backoff: fastBackoff,
      ...extra,
    });
    return { client, records };
  };

  it("go-plugin's examples/grpc plugin, SIGKILL under load: every call succeeds or fails UNAVAILABLE, and it comes back", async () => {
    const { client } = goClient("grpc-plugin");
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("v"));
      const expect = "v\n\nWritten from plugin-go-grpc";
      const { seen, stop } = load(kv, "k", 6, expect);
      try {
        await waitFor(() => seen.ok > 50, 20_000, "load to run");
        const first = client.pid!;
        process.kill(first, "SIGKILL");
        await waitFor(() => client.restartCount === 1 && client.state === "ready", 20_000, "restart");
        const ok = seen.ok;
        await waitFor(() => seen.ok > ok + 50, 20_000, "calls to succeed on the new process");
        assert.notEqual(client.pid, first);
        assert.equal(alive(first), false);
      } finally {
        await stop();
      }
      assert.deepEqual(seen.other, []);
      assert.ok(seen.unavailable > 0, "the outage was seen as UNAVAILABLE");
    } finally {
      await client.kill();
    }
  });

  it("goplugin SIGSTOPped under load: calls held by the hung process end UNAVAILABLE once it is killed, none hangs, and it is replaced", async () => {
    const { client, records } = goClient("goplugin");
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("v"));
      const { seen, stop } = load(kv, "k", 6, "v");
      let during: Seen;
      try {
        await waitFor(() => seen.ok > 50, 20_000, "load to run");
        const first = client.pid!;
        const before = { ...seen };
        process.kill(first, "SIGSTOP");
        await waitFor(() => client.restartCount === 1 && client.state === "ready", 20_000, "restart after the hang");
        during = { ok: seen.ok - before.ok, unavailable: seen.unavailable - before.unavailable, other: seen.other };
        const ok = seen.ok;
        // The new process has none of the old one's state: put the key again, then calls succeed.
        await kv.put("k", Buffer.from("v"));
        await waitFor(() => seen.ok > ok + 50, 20_000, "calls to succeed on the new process");
        assert.equal(alive(first), false, "the hung process was killed");
      } finally {
        await stop();
      }
      assert.deepEqual(
        seen.other.filter((o) => !/no key/.test(o)),
        [],
        "only UNAVAILABLE, or 'no key' on the empty new process",
      );
      assert.ok(during.unavailable >= 1, "calls in flight on the stopped process ended UNAVAILABLE");
      assert.ok(
        records.some((r) => r.msg === "plugin failed; restarting it" && /liveness check failed/.test(String(r.reason))),
      );
    } finally {
      await client.kill();
    }
  });

  it("a Go panic: the call fails UNAVAILABLE, the host logs the panic text at error, and restarts the plugin", async () => {
    const { client, records } = goClient("goplugin");
    try {
      const kv = await client.dispense("kv");
      const first = client.pid!;
      await assert.rejects(kv.get("panic"), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
      await waitFor(() => client.restartCount === 1 && client.state === "ready", 20_000, "restart after the panic");
      const panic = await waitFor(
        () => records.find((r) => String(r.msg).startsWith("panic: goplugin: panic on purpose in Get")),
        5_000,
        "the panic line",
      );
      assert.equal(panic.level, 50, "the panic is logged at error");
      assert.equal(panic.source, "stderr");
      assert.equal(panic.plugin, "goplugin");
      assert.ok(
        records.some((r) => r.level === 50 && /^goroutine \d+/.test(String(r.msg))),
        "its trace too, at error",
      );
      assert.ok(
        records.some((r) => r.msg === "plugin failed; restarting it" && /exit status 2/.test(String(r.reason))),
        "the restart names the exit (Go exits 2 on a panic)",
      );
      assert.notEqual(client.pid, first);
      assert.equal((await kv.get("pid")).toString(), String(client.pid));
    } finally {
      await client.kill();
    }
  });

  it("a Go plugin that exits during the handshake: PLUGIN_EXITED with its exit status and stderr, no process left", async () => {
    const { client } = goClient("goplugin", ["-exit-early"]);
    await assert.rejects(client.start(), (err: unknown) => {
      assert.ok(isPodplugError(err, "PLUGIN_EXITED"), String(err));
      assert.match(err.message, /plugin goplugin exited before completing the handshake \(exit status 3\)/);
      assert.match(err.message, /goplugin: exiting before the handshake, as asked/);
      assert.equal(alive(err.details.pid as number), false);
      return true;
    });
    assert.equal(client.state, "stopped");
  });

  it("a Go plugin that never prints a handshake: HANDSHAKE_TIMEOUT after startTimeoutMs, and it is killed", async () => {
    const { client } = goClient("goplugin", ["-no-handshake"], { startTimeoutMs: 1500 });
    let pid = 0;
    await assert.rejects(client.start(), (err: unknown) => {
      assert.ok(isPodplugError(err, "HANDSHAKE_TIMEOUT"), String(err));
      assert.match(err.message, /no handshake line on its stdout within 1500 ms/);
      assert.match(err.message, /goplugin: never printing a handshake, as asked/);
      pid = err.details.pid as number;
      return true;
    });
    await waitFor(() => !alive(pid), 5_000, "the silent plugin to be killed");
  });

  describe("a SIGKILLed host leaves no Go plugin running", () => {
    const leftovers: string[] = [];
    afterEach(() => {
      for (const d of leftovers.splice(0)) rmSync(d, { recursive: true, force: true });
    });
    async function orphan(mode: "client" | "plain", command: string, args: string[] = []) {
      const host = spawn(NODE, [fixture("orphaning-host.ts"), mode, command, ...args], {
        cwd: work.dir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      host.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise((r) => host.once("close", r));
      const line = await new Promise<string>((resolve, reject) => {
        host.stdout!.once("data", (d: Buffer) => resolve(d.toString()));
        void closed.then(() => reject(new Error(`host ended: ${stderr}`)));
      });
      const { pid, address } = JSON.parse(line) as { pid: number; address: string };
      // The plugin is the host's own child (setpriv exec'd into it): the death signal is tied to that parent.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      assert.equal(
        Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]),
        host.pid,
        "the plugin's parent is the host",
      );
      host.kill("SIGKILL"); // nothing of the host runs after this: no exit hook, no sweep
      await closed;
      // The control's folder is the bare spawn's own, in any mode the dead host's: the test removes it after.
      leftovers.push(dirname(address));
      return { pid, address };
    }

    it("through Client: the kernel's death signal (PR_SET_PDEATHSIG) kills it", async () => {
      assert.ok(PDEATHSIG_AVAILABLE, "setpriv --pdeathsig is available on this Linux");
      const { pid, address } = await orphan("client", goPeer("goplugin"));
      await waitFor(() => !alive(pid), 10_000, "the Go plugin to die with its host");
      // Killed, not stopped: go-plugin removes its socket on a graceful exit, a SIGKILL leaves it.
      assert.ok(existsSync(address), "its socket stayed: it was SIGKILLed");
      // The next host's start sweeps the dead host's folder.
      const { client } = goClient("goplugin");
      try {
        await client.start();
        assert.equal(existsSync(dirname(address)), false, "the next start swept the dead host's folder");
      } finally {
        await client.kill();
      }
    });

    it("control: the same Go plugin started without the death signal outlives its SIGKILLed host (it does not watch its parent)", async () => {
      const { pid } = await orphan("plain", goPeer("goplugin"));
      try {
        // Bounded look: the TS plugin's parent watch would fire within 1 s; a Go plugin has none.
        const end = Date.now() + 2_000;
        while (Date.now() < end) {
          assert.ok(alive(pid), "the orphaned Go plugin is still running");
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        process.kill(pid, "SIGKILL");
        await waitFor(() => !alive(pid), 5_000, "the control orphan to be killed by the test");
      }
    });

    it("a TS plugin started without the death signal exits by its own parent watch, gracefully (its socket removed)", async () => {
      const { pid, address } = await orphan("plain", NODE, [fixture("test-plugin.ts")]);
      await waitFor(() => !alive(pid), 10_000, "the TS plugin to notice its parent is gone");
      assert.equal(
        existsSync(address),
        false,
        "a graceful stop removed its socket: the parent watch worked, not a kill",
      );
    });

    it("a TS plugin through Client is SIGKILLed by the death signal before its parent watch runs (its socket stays)", async () => {
      const { pid, address } = await orphan("client", NODE, [fixture("test-plugin.ts")]);
      await waitFor(() => !alive(pid), 10_000, "the TS plugin to die with its host");
      assert.ok(existsSync(address), "its socket stayed: it was SIGKILLed, not stopped by its watch");
      assert.ok(
        sweepDeadHostDirs(dirname(dirname(address))).includes(dirname(address)),
        "the sweep takes the dead host's folder",
      );
    });
  });
});
void ROOT;
