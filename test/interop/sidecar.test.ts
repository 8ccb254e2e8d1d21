/**
 * Issue 4, case 5: the sidecar shape — a plugin the host did not start,
 * serving in a socket folder shared with the host. A Go host attaches to a TS
 * plugin through go-plugin's ReattachConfig (built by sdk/go); the TS host
 * attaches to unmodified Go plugin binaries started by someone else with the
 * env podplug's operator injects.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pino } from "pino";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake as kvHandshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { spawnGuarded } from "../../src/process/spawn.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { alive, tempDir, waitFor } from "../helpers.ts";
import { eventsOf, explain, type GoPeer, goPeer, goPeersDir, ROOT, runPeer } from "./peers.ts";

/** The env podplug's operator gives a plugin container (docs/architecture.md). */
function sidecarEnv(dir: string, name: string, handshakeFile: boolean): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BASIC_PLUGIN: "hello",
    PLUGIN_PROTOCOL_VERSIONS: "1",
    PLUGIN_UNIX_SOCKET_DIR: dir,
    PODPLUG_PLUGIN_NAME: name,
    ...(handshakeFile ? { PODPLUG_HANDSHAKE_FILE: join(dir, "handshake") } : {}),
  };
}

const started: ChildProcess[] = [];

/** Starts a TS plugin in sidecar mode, as its container would. */
function startTsSidecar(script: string, dir: string, cwd: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  // Under PR_SET_PDEATHSIG: a sidecar does not watch its parent, so a runner that dies mid-test must not orphan it.
  const p = spawnGuarded(process.execPath, [join(ROOT, script)], {
    env: { ...sidecarEnv(dir, "kv", true), ...env },
    cwd,
  });
  p.stdout!.resume();
  p.stderr!.resume();
  started.push(p);
  return p;
}

/** Starts an unmodified Go plugin with the sidecar env; nobody reads its handshake line. */
function startGoSidecar(peer: GoPeer, dir: string, cwd: string): ChildProcess {
  const p = spawnGuarded(goPeer(peer), [], { env: sidecarEnv(dir, "kv", false), cwd });
  p.stdout!.resume();
  p.stderr!.resume();
  started.push(p);
  return p;
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => p.once("exit", () => r()));
}

describe("interop: sidecar shape, attach to a plugin the host did not start (case 5)", () => {
  let socks: ReturnType<typeof tempDir>;
  let work: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => {
    socks = tempDir("ps-");
    work = tempDir("pw-");
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      p.kill("SIGKILL");
      await exited(p);
    }
    socks.remove();
    work.remove();
  });

  describe("Go host (sdk/go) → TS plugin", () => {
    it("attaches through the handshake file, and a second host finds the same plugin and its state", async () => {
      const plugin = startTsSidecar("test/interop/fixtures/log-plugin.ts", socks.dir, work.dir);
      await waitFor(() => existsSync(join(socks.dir, "handshake")), 20_000, "the handshake file");
      const first = await runPeer("gohost", ["-attach", socks.dir, "-keep", "put", "k", "v1"]);
      assert.equal(first.code, 0, explain(first));
      const addr = eventsOf(first, "started")[0]?.addr;
      assert.equal(addr, join(socks.dir, "plugin.sock"));
      assert.ok(alive(plugin.pid!), "the plugin died when the first host left");
      const second = await runPeer("gohost", ["-attach", socks.dir, "-keep", "get", "k", "ping"]);
      assert.equal(second.code, 0, explain(second));
      assert.equal(eventsOf(second, "get")[0]?.value, "v1");
    });

    it("a Go host started before its sidecar waits for it", async () => {
      const host = runPeer("gohost", ["-attach", socks.dir, "-keep", "ping"]);
      await new Promise((r) => setTimeout(r, 300));
      startTsSidecar("test/interop/fixtures/log-plugin.ts", socks.dir, work.dir);
      const r = await host;
      assert.equal(r.code, 0, explain(r));
      assert.equal(eventsOf(r, "ping").length, 1);
    });

    it("broker callbacks work: the Go host's AddHelper listener lands in the plugin's folder", async () => {
      startTsSidecar("examples/counter/plugin.ts", socks.dir, work.dir);
      const r = await runPeer("gohost-counter", [
        "-attach",
        socks.dir,
        "-keep",
        "put",
        "c",
        "4",
        "put",
        "c",
        "5",
        "get",
        "c",
      ]);
      assert.equal(r.code, 0, explain(r));
      assert.deepEqual(
        eventsOf(r, "callback").map((e) => [e.a, e.b]),
        [
          [0, 4],
          [4, 5],
        ],
      );
      assert.equal(eventsOf(r, "get")[0]?.value, 9);
    });

    it("the Go host notices a sidecar that dies (its PID is in another namespace: the socket is watched)", async () => {
      const plugin = startTsSidecar("test/interop/fixtures/log-plugin.ts", socks.dir, work.dir);
      const host = spawn(goPeer("gohost"), ["-attach", socks.dir, "-keep", "ping", "wait-exit"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      let out = "";
      host.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes(`"event":"ping"`), 30_000, "the Go host's ping");
      plugin.kill("SIGKILL");
      await exited(host);
      assert.match(out, /"event":"exited","exited":true/, out);
    });

    it("AutoMTLS: with the host certificate where the operator mounts it ($PODPLUG_MTLS_ROOT/<name>), calls and broker callbacks run over TLS; without it, HANDSHAKE_CERT", async () => {
      const pair = await generateCertificate();
      const mtlsRoot = join(work.dir, "mtls");
      const certDir = join(mtlsRoot, basename(socks.dir));
      mkdirSync(certDir, { recursive: true });
      writeFileSync(join(certDir, "tls.crt"), pair.certPem);
      writeFileSync(join(certDir, "tls.key"), pair.keyPem);
      startTsSidecar("examples/counter/plugin.ts", socks.dir, work.dir, { PLUGIN_CLIENT_CERT: pair.certPem });
      await waitFor(() => existsSync(join(socks.dir, "handshake")), 20_000, "the handshake file");
      const cert = readFileSync(join(socks.dir, "handshake"), "utf8").trim().split("|")[5] ?? "";
      assert.ok(cert.length > 50, "the handshake file carries the plugin's certificate");
      const r = await runPeer("gohost-counter", ["-attach", socks.dir, "-keep", "put", "c", "4", "get", "c"], {
        env: { PODPLUG_MTLS_ROOT: mtlsRoot },
      });
      assert.equal(r.code, 0, explain(r));
      assert.deepEqual(
        eventsOf(r, "callback").map((e) => [e.a, e.b]),
        [[0, 4]],
      );
      assert.equal(eventsOf(r, "get")[0]?.value, 4);
      const none = await runPeer("gohost-counter", ["-attach", socks.dir, "-keep", "get", "c"], {
        env: { PODPLUG_MTLS_ROOT: "" },
      });
      assert.equal(none.code, 1, explain(none));
      assert.match(String(eventsOf(none, "error")[0]?.error), /\[HANDSHAKE_CERT\] plugin .* serves AutoMTLS/);
    });

    it("Kill() from the Go host shuts the sidecar down: no process, no socket, no handshake file left", async () => {
      const plugin = startTsSidecar("test/interop/fixtures/log-plugin.ts", socks.dir, work.dir);
      await waitFor(() => existsSync(join(socks.dir, "handshake")), 20_000, "the handshake file");
      const r = await runPeer("gohost", ["-attach", socks.dir, "ping", "kill"]);
      assert.equal(r.code, 0, explain(r));
      await exited(plugin);
      assert.equal(plugin.exitCode, 0);
      assert.ok(!existsSync(join(socks.dir, "plugin.sock")), "socket left behind");
      assert.ok(!existsSync(join(socks.dir, "handshake")), "handshake file left behind");
    });
  });

  describe("Go host (sdk/go) → unmodified Go plugin (no handshake file): the version is told, never guessed", () => {
    it("without -attach-version (Options.ProtocolVersion) attaching fails with ATTACH_VERSION_UNKNOWN, naming the socket", async () => {
      const plugin = startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const r = await runPeer("gohost", ["-attach", socks.dir, "-keep", "get", "k"]);
      assert.equal(r.code, 1, explain(r));
      const [err] = eventsOf(r, "error");
      assert.equal(err?.op, "attach", explain(r));
      assert.match(String(err?.error), /\[ATTACH_VERSION_UNKNOWN\]/);
      assert.match(String(err?.error), new RegExp(`serves ${socks.dir}/plugin\\d+ but wrote no handshake file`));
      assert.match(String(err?.error), /set Options\.ProtocolVersion/);
      assert.ok(alive(plugin.pid!), "the refusal leaves the sidecar alone");
    });

    it("with -attach-version 1 the Go host calls it", async () => {
      startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const r = await runPeer("gohost", [
        "-attach",
        socks.dir,
        "-attach-version",
        "1",
        "-keep",
        "put",
        "k",
        "v",
        "get",
        "k",
      ]);
      assert.equal(r.code, 0, explain(r));
      assert.equal(eventsOf(r, "get")[0]?.value, "v\n\nWritten from plugin-go-grpc");
    });

    it("a host offering only version 2 is refused with HANDSHAKE_APP_VERSION when told the plugin serves 1", async () => {
      startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const r = await runPeer("gohost", [
        "-attach",
        socks.dir,
        "-attach-version",
        "1",
        "-versions",
        "2",
        "-keep",
        "get",
        "k",
      ]);
      assert.equal(r.code, 1, explain(r));
      assert.match(String(eventsOf(r, "error")[0]?.error), /\[HANDSHAKE_APP_VERSION\].*version 1.*\[2\]/);
    });
  });

  describe("TS host → unmodified Go plugin (plain plugin.Serve, no handshake file)", () => {
    it("attaches to go-plugin's examples/grpc kv plugin by its live socket", async () => {
      startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const client = new Client({
        handshake: kvHandshake,
        plugins: { kv: kvPlugin() },
        attach: { dir: socks.dir, protocolVersion: 1 },
        logger: pino({ level: "silent" }),
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("from ts"));
        assert.equal((await kv.get("k")).toString(), "from ts\n\nWritten from plugin-go-grpc");
        const info = await client.start();
        assert.match(info.handshake.address, new RegExp(`^${socks.dir}/plugin\\d+$`));
      } finally {
        await client.kill();
      }
    });

    it("reattach never guesses: without attach.protocolVersion, a bare Go socket is refused at attach time (ATTACH_VERSION_UNKNOWN)", async () => {
      const plugin = startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const client = new Client({
        handshake: kvHandshake,
        versionedPlugins: { 1: { kv: kvPlugin() }, 2: { kv: kvPlugin() } },
        attach: { dir: socks.dir },
        logger: pino({ level: "silent" }),
      });
      try {
        await assert.rejects(client.start(), (err: unknown) => {
          assert.ok(isPodplugError(err, "ATTACH_VERSION_UNKNOWN"), String(err));
          assert.match(err.message, /wrote no handshake file, so its protocol version is unknown/);
          assert.match(err.message, /this host offers \[1 2\]/);
          return true;
        });
        assert.ok(alive(plugin.pid!), "the refusal leaves the sidecar alone");
      } finally {
        await client.kill();
      }
    });

    it("re-attaches when the Go sidecar is replaced, skipping the killed one's stale socket", async () => {
      const first = startGoSidecar("grpc-plugin", socks.dir, work.dir);
      const client = new Client({
        handshake: kvHandshake,
        plugins: { kv: kvPlugin() },
        attach: { dir: socks.dir, protocolVersion: 1 },
        logger: pino({ level: "silent" }),
        backoff: { initialMs: 50, maxMs: 500 },
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("kept"));
        const before = (await client.start()).handshake.address;
        first.kill("SIGKILL"); // no clean-up: its socket file stays behind, dead
        await exited(first);
        startGoSidecar("grpc-plugin", socks.dir, work.dir); // what the kubelet does
        const value = await waitFor(
          () =>
            kv.get("k").then(
              (v) => v.toString(),
              () => undefined,
            ),
          30_000,
          "a call through the new sidecar",
        );
        assert.equal(value, "kept\n\nWritten from plugin-go-grpc");
        assert.ok(client.restartCount >= 1, `restartCount ${client.restartCount}`);
        assert.ok(existsSync(before), "the dead plugin's socket was expected to stay behind");
      } finally {
        await client.kill();
      }
    });

    it("serves broker callbacks to go-plugin's examples/bidirectional plugin from the plugin's folder", async () => {
      startGoSidecar("bidir-plugin", socks.dir, work.dir);
      const client = new Client({
        handshake: counterHandshake,
        plugins: { counter: counterPlugin() },
        attach: { dir: socks.dir, protocolVersion: 1 },
        logger: pino({ level: "silent" }),
      });
      const calls: [bigint, bigint][] = [];
      try {
        const counter = await client.dispense("counter");
        await counter.put("n", 6n, {
          sum: async (a, b) => {
            calls.push([a, b]);
            return a + b;
          },
        });
        assert.equal(await counter.get("n"), 6n);
        assert.deepEqual(calls, [[0n, 6n]]);
      } finally {
        await client.kill();
      }
      assert.equal(readFileSync(join(work.dir, "kv_n"), "utf8"), `{"Value":6}`);
    });
  });

  it("sdk/go's own tests pass (go test: reattach to a plain Go plugin, socket watching, Kill, Locate)", function () {
    this.timeout(10 * 60_000);
    const r = spawnSync("go", ["test", "-count=1", "./..."], {
      cwd: join(ROOT, "sdk", "go"),
      encoding: "utf8",
      timeout: 9 * 60_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ok\s+github.com\/podplug\/podplug\/sdk\/go/m);
  });
});
