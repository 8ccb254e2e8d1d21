/**
 * Issue 11: the go-plugin client/server knobs a go-plugin user reaches for,
 * each against real processes (go-plugin's Go peers where the knob is on
 * the host side): SkipHostEnv, the raw Stderr writer, UnixSocketConfig.Group,
 * interceptors on both sides (GRPCDialOptions / the GRPCServer factory) and
 * explicit TLS (TLSConfig / TLSProvider).
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { tempDir } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, ROOT, runPeer } from "./peers.ts";

const quiet = pino({ level: "silent" });
const tsPlugin = (env: Record<string, string> = {}) => ({
  command: process.execPath,
  args: [`${ROOT}/test/interop/fixtures/log-plugin.ts`],
  env,
});
const goPlugin = (env: Record<string, string> = {}) => ({ command: goPeer("goplugin"), env });

function collect(): { sink: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString() };
}

describe("interop: go-plugin's client and server knobs", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  for (const [side, cmd] of [
    ["go", goPlugin],
    ["ts", tsPlugin],
  ] as const) {
    it(`skip-host-env-${side}: skipHostEnv keeps the host's environment from the plugin; cmd.env and go-plugin's variables still arrive`, async () => {
      process.env.PODPLUG_KNOB_SECRET = "host-only";
      try {
        for (const skip of [false, true]) {
          const client = new Client({
            handshake,
            plugins: { kv: kvPlugin() },
            cmd: { ...cmd({ GIVEN: "by-cmd" }), skipHostEnv: skip },
            logger: quiet,
          });
          try {
            const kv = await client.dispense("kv");
            assert.equal((await kv.get("env:PODPLUG_KNOB_SECRET")).toString(), skip ? "<unset>" : "host-only");
            assert.equal((await kv.get("env:GIVEN")).toString(), "by-cmd");
            assert.equal((await kv.get("env:PLUGIN_PROTOCOL_VERSIONS")).toString(), "1");
            assert.equal((await kv.get("env:PLUGIN_MIN_PORT")).toString(), "10000");
            assert.equal((await kv.get("env:PLUGIN_MAX_PORT")).toString(), "25000");
          } finally {
            await client.kill();
          }
        }
      } finally {
        delete process.env.PODPLUG_KNOB_SECRET;
      }
    });
  }

  it("raw-stderr: `stderr` gets the plugin process's stderr bytes, hclog lines included; GRPCStdio output goes to `stdio` only", async () => {
    const raw = collect();
    const synced = collect();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: goPlugin(),
      stderr: raw.sink,
      stdio: { stderr: synced.sink },
      logger: quiet,
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal((await kv.get("lograw")).toString(), "logged");
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await client.kill();
    }
    assert.match(raw.text(), /"@message":"info lograw"/);
    assert.match(raw.text(), /^\[WARN\] prefixed lograw$/m);
    assert.match(raw.text(), /^plain lograw$/m);
    assert.doesNotMatch(raw.text(), /^stderr lograw$/m);
    assert.match(synced.text(), /^stderr lograw$/m);
  });

  for (const [side, cmd] of [
    ["go", goPlugin],
    ["ts", tsPlugin],
  ] as const) {
    it(`socket-group-${side}: socketGroup gives the host's folder (0770) and the plugin's socket (0660) the group`, async () => {
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: cmd(),
        socketGroup: "4242",
        logger: quiet,
      });
      try {
        const info = await client.start();
        const sock = statSync(info.handshake.address);
        const dir = statSync(dirname(info.handshake.address));
        assert.equal(sock.gid, 4242);
        assert.equal(sock.mode & 0o777, 0o660);
        assert.equal(dir.gid, 4242);
        assert.equal(dir.mode & 0o777, 0o770);
        // PLUGIN_UNIX_SOCKET_DIR: the plugin made its socket in the folder the host gave it.
        assert.match(info.handshake.address, /\/pp-\d+-[A-Za-z0-9]{6}\/plugin\d+$/);
      } finally {
        await client.kill();
      }
    });
  }

  it("socket-group-broker: the host's broker socket for a Go plugin's callback gets the group too", async () => {
    const work = tempDir("kg-");
    const client = new Client({
      handshake: counterHandshake,
      plugins: { counter: counterPlugin() },
      cmd: { command: goPeer("bidir-plugin"), cwd: work.dir },
      socketGroup: "4242",
      logger: quiet,
    });
    const seen: { gid: number; mode: number }[] = [];
    try {
      const info = await client.start();
      const dir = dirname(info.handshake.address);
      const counter = await client.dispense("counter");
      await counter.put("g", 1n, {
        sum: async (a, b) => {
          for (const n of readdirSync(dir).filter(
            (n) => n.startsWith("plugin") && join(dir, n) !== info.handshake.address,
          )) {
            const st = statSync(join(dir, n));
            seen.push({ gid: st.gid, mode: st.mode & 0o777 });
          }
          return a + b;
        },
      });
    } finally {
      await client.kill();
      work.remove();
    }
    assert.deepEqual(seen, [{ gid: 4242, mode: 0o660 }]);
  });

  it("socket-group-bad: an unknown group is ENV_INVALID before anything starts", () => {
    assert.throws(
      () =>
        new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          cmd: goPlugin(),
          socketGroup: "no-such-group-podplug",
          logger: quiet,
        }),
      (err: unknown) => isPodplugError(err, "ENV_INVALID"),
    );
  });

  describe("interceptors", () => {
    const bearer =
      (token: string, seen: string[]): grpc.Interceptor =>
      (options, next) =>
        new grpc.InterceptingCall(next(options), {
          start(metadata, listener, go) {
            seen.push(options.method_definition.path);
            metadata.set("authorization", `Bearer ${token}`);
            go(metadata, listener);
          },
        });

    it("interceptors-ts: a host's client interceptor adds the token a TS plugin's server interceptor demands", async () => {
      const seen: string[] = [];
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: tsPlugin({ FIXTURE_TOKEN: "s3cret" }),
        interceptors: [bearer("s3cret", seen)],
        logger: quiet,
      });
      const bare = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: tsPlugin({ FIXTURE_TOKEN: "s3cret" }),
        logger: quiet,
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("a", Buffer.from("1"));
        assert.equal((await kv.get("a")).toString(), "1");
        assert.deepEqual(seen, ["/proto.KV/Put", "/proto.KV/Get"]);
        // Without the token: refused by the plugin's interceptor; podplug's own services (health) still answer.
        const kv2 = await bare.dispense("kv");
        await assert.rejects(
          kv2.get("a"),
          (err: grpc.ServiceError) =>
            err.code === grpc.status.UNAUTHENTICATED && /\/proto.KV\/Get needs a bearer token/.test(err.details),
        );
        await bare.ping();
      } finally {
        await client.kill();
        await bare.kill();
      }
    });

    it("interceptors-go-host: go-plugin's Go host is refused by the TS plugin's interceptor, while its Ping passes", async () => {
      const r = await runPeer(
        "gohost",
        ["-cmd", nodeCommand("test/interop/fixtures/log-plugin.ts"), "ping", "get", "a"],
        {
          env: { FIXTURE_TOKEN: "s3cret" },
        },
      );
      assert.equal(r.code, 1, explain(r));
      assert.equal(eventsOf(r, "ping")[0]?.ok, true);
      assert.match(
        String(eventsOf(r, "error")[0]?.error),
        /code = Unauthenticated desc = \/proto.KV\/Get needs a bearer token/,
      );
    });

    it("interceptors-go-plugin: a TS host's client interceptor sees every call it makes to a Go plugin", async () => {
      const seen: string[] = [];
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: goPlugin(),
        interceptors: [bearer("x", seen)],
        logger: quiet,
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("v"));
        assert.equal((await kv.get("k")).toString(), "v");
        await client.ping();
        assert.deepEqual(seen, ["/proto.KV/Put", "/proto.KV/Get"]);
      } finally {
        await client.kill();
      }
    });
  });

  describe("explicit TLS (go-plugin's TLSConfig / TLSProvider)", () => {
    it("tls-explicit: a TS host with tls talks mutual TLS to a TS plugin with a TLS provider; without it, or with another CA, it cannot connect", async () => {
      const host = await generateCertificate();
      const plugin = await generateCertificate();
      const stranger = await generateCertificate();
      const env = { FIXTURE_TLS_CERT: plugin.certPem, FIXTURE_TLS_KEY: plugin.keyPem, FIXTURE_TLS_CA: host.certPem };
      const good = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: tsPlugin(env),
        tls: { certPem: host.certPem, keyPem: host.keyPem, caPem: plugin.certPem },
        logger: quiet,
      });
      try {
        const info = await good.start();
        assert.equal(info.handshake.serverCert, "", "nothing in the handshake: the host knows the CA");
        const kv = await good.dispense("kv");
        await kv.put("t", Buffer.from("tls"));
        assert.equal((await kv.get("t")).toString(), "tls");
      } finally {
        await good.kill();
      }
      for (const tls of [undefined, { certPem: stranger.certPem, keyPem: stranger.keyPem, caPem: plugin.certPem }]) {
        const bad = new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          cmd: tsPlugin(env),
          ...(tls ? { tls } : {}),
          // The handshake comes at once; the TLS connection never does, so the start waits out its timeout.
          startTimeoutMs: 8000,
          restart: false,
          logger: quiet,
        });
        try {
          await assert.rejects(bad.start(), (err: unknown) => isPodplugError(err, "UNAVAILABLE"));
        } finally {
          await bad.kill();
        }
      }
    });
  });
});
