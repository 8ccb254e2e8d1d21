/**
 * Issue 11: go-plugin's ReattachConfig in and out of the TS host, against
 * real processes. A host hands out the config of a plugin it started and a
 * later host process (TS or go-plugin's) attaches and kill()s it with
 * go-plugin's semantics; Terraform's TF_REATTACH_PROVIDERS from a Go plugin
 * in debug (test) mode; configs naming a dead or foreign process get coded
 * errors and never signal the process behind the pid (nomad#23969).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { processStartTime } from "../../src/process/identity.ts";
import { formatReattachConfig, parseReattachMap, type ReattachConfig } from "../../src/protocol/reattach.ts";
import { alive, waitFor } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, ROOT, runPeer, startPlugin } from "./peers.ts";

const quiet = pino({ level: "silent" });

/** Runs the later TS host process (fixtures/reattach-host.ts) with a config. */
async function laterHost(
  config: string,
  key: string,
  keep = false,
): Promise<{ code: number | null; out: Record<string, unknown> }> {
  const child = spawn(
    process.execPath,
    [`${ROOT}/test/interop/fixtures/reattach-host.ts`, key, ...(keep ? ["keep"] : [])],
    {
      env: { ...process.env, PODPLUG_REATTACH: config },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  const line = stdout.trim().split("\n").pop() ?? "";
  try {
    return { code, out: JSON.parse(line) as Record<string, unknown> };
  } catch {
    throw new Error(`later host printed no JSON (exit ${code}); stdout:\n${stdout}\nstderr:\n${stderr}`);
  }
}

/** A TS host running the Go kv plugin with a value in it; restart off, as go-plugin (another host will end it). */
async function startedHost(command: string, args: string[] = []): Promise<Client<{ kv: ReturnType<typeof kvPlugin> }>> {
  const client = new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: { command, args },
    restart: false,
    logger: quiet,
  });
  const kv = await client.dispense("kv");
  await kv.put("greeting", Buffer.from("handed over"));
  return client;
}

describe("interop: ReattachConfig in and out of the TS host", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  it("reattach-ts-out-ts-in: a TS host hands out its Go plugin's config; a later TS host process attaches, calls, and its kill() ends the plugin", async () => {
    const first = await startedHost(goPeer("goplugin"));
    try {
      const cfg = first.reattachConfig();
      const pid = first.pid!;
      assert.equal(cfg.pid, pid);
      assert.equal(cfg.startTime, processStartTime(pid));
      const r = await laterHost(formatReattachConfig(cfg), "greeting");
      assert.equal(r.code, 0, JSON.stringify(r.out));
      assert.equal(r.out.value, "handed over");
      // go-plugin's Kill() of a reattached plugin: Shutdown, then (after 2 s) SIGKILL. The plugin is gone.
      await waitFor(() => !alive(pid), 5000, "the plugin's exit");
      await waitFor(() => first.state === "stopped", 5000, "the first host to see its plugin stop");
      assert.match(first.stopReason ?? "", /exited/);
    } finally {
      await first.kill();
    }
  });

  it("reattach-ts-out-go-in: go-plugin's own Reattach takes the TS host's config for its TS plugin; Go's Kill() ends it", async () => {
    const first = await startedHost(process.execPath, [`${ROOT}/test/interop/fixtures/log-plugin.ts`]);
    try {
      const pid = first.pid!;
      const r = await runPeer("gohost", ["-reattach", formatReattachConfig(first.reattachConfig()), "get", "greeting"]);
      assert.equal(r.code, 0, explain(r));
      assert.equal(eventsOf(r, "get")[0]?.value, "handed over");
      await waitFor(() => !alive(pid), 5000, "the plugin's exit after go-plugin's Kill()");
    } finally {
      await first.kill();
    }
  });

  it("reattach-tf-debug: a Go plugin in Terraform's debug mode prints TF_REATTACH_PROVIDERS; the TS host attaches and kill() leaves a Test plugin running", async () => {
    const plugin = startPlugin(goPeer("goplugin"), ["-debug"], {});
    try {
      const line = await plugin.line;
      assert.match(line, /^TF_REATTACH_PROVIDERS=/);
      const cfg = parseReattachMap(line.slice("TF_REATTACH_PROVIDERS=".length)).kv!;
      assert.equal(cfg.test, true);
      assert.equal(cfg.pid, plugin.pid);
      for (let i = 0; i < 2; i++) {
        const client = new Client({ handshake, plugins: { kv: kvPlugin() }, reattach: cfg, logger: quiet });
        const kv = await client.dispense("kv");
        await kv.put(`k${i}`, Buffer.from("v"));
        assert.equal((await kv.get("k0")).toString(), "v");
        await client.kill();
        // go-plugin: a Test reattach has no runner; Kill() does not stop the plugin.
        assert.equal(alive(plugin.pid), true);
      }
    } finally {
      await plugin.stop();
    }
  });

  describe("bad reattach configs: coded errors, nothing signalled", () => {
    let bystander: ChildProcess;
    beforeEach(async () => {
      bystander = spawn("sleep", ["60"], { stdio: "ignore" });
      await once(bystander, "spawn");
    });
    afterEach(async () => {
      const gone = once(bystander, "exit");
      bystander.kill("SIGKILL");
      await gone;
    });

    it("reattach-bad-foreign-pid: a live plugin socket with the Pid of an unrelated process is REATTACH_PROCESS_MISMATCH; the process is untouched", async () => {
      const first = await startedHost(goPeer("goplugin"));
      try {
        const cfg: ReattachConfig = { ...first.reattachConfig(), pid: bystander.pid! };
        delete cfg.startTime; // as a Go host's config: only the socket can vouch for the pid
        const client = new Client({ handshake, plugins: { kv: kvPlugin() }, reattach: cfg, logger: quiet });
        await assert.rejects(client.start(), (err: unknown) => isPodplugError(err, "REATTACH_PROCESS_MISMATCH"));
        await client.kill();
        assert.equal(alive(bystander.pid!), true);
        assert.equal(alive(first.pid!), true);
      } finally {
        await first.kill();
      }
    });

    it("reattach-bad-reused-pid: a recorded StartTime that no longer matches is REATTACH_PROCESS_MISMATCH, in a later host process too", async () => {
      const first = await startedHost(goPeer("goplugin"));
      try {
        const cfg = { ...first.reattachConfig(), pid: bystander.pid!, startTime: "1" };
        const r = await laterHost(formatReattachConfig(cfg), "greeting");
        assert.equal(r.code, 1);
        assert.equal(r.out.code, "REATTACH_PROCESS_MISMATCH", JSON.stringify(r.out));
        assert.equal(alive(bystander.pid!), true);
      } finally {
        await first.kill();
      }
    });

    it("reattach-bad-dead: a config of a plugin that exited is REATTACH_NOT_FOUND (go-plugin's 'Reattachment process not found'), its pid reused or not", async () => {
      const first = await startedHost(goPeer("goplugin"));
      const cfg = first.reattachConfig();
      await first.kill();
      for (const pid of [cfg.pid, bystander.pid!]) {
        const r = await laterHost(formatReattachConfig({ ...cfg, pid }), "greeting");
        assert.equal(r.out.code, "REATTACH_NOT_FOUND", JSON.stringify(r.out));
        assert.match(String(r.out.error), /Reattachment process not found/);
      }
      assert.equal(alive(bystander.pid!), true);
    });

    it("reattach-bad-json: a malformed PODPLUG_REATTACH fails the later host with REATTACH_INVALID before it connects", async () => {
      await assert.rejects(
        (async () => new Client({ handshake, plugins: { kv: kvPlugin() }, reattach: '{"Pid": 1', logger: quiet }))(),
        (err: unknown) => isPodplugError(err, "REATTACH_INVALID"),
      );
    });
  });
});
