/**
 * The host SDK against real plugin processes over real Unix sockets.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { handshake, type KV, kvPlugin } from "../../examples/kv/shared.ts";
import { KVClient } from "../../src/gen/examples/kv/kv.ts";
import { commandName } from "../../src/host/client.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { exitOf } from "../../src/process/exit.ts";
import { spawnGuarded } from "../../src/process/spawn.ts";
import { parseHandshake } from "../../src/protocol/handshake.ts";
import { handshakeFieldToCert } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { dialUnix, insecureTransport, mtlsTransport, type TransportSecurity } from "../../src/protocol/transport.ts";
import { alive, captureLogger, fixture, NODE, tempDir, waitFor } from "../helpers.ts";

const testPlugin = { command: NODE, args: [fixture("test-plugin.ts")] };

function kvClient(extra: Partial<ConstructorParameters<typeof Client<{ kv: ReturnType<typeof kvPlugin> }>>[0]> = {}) {
  const { logger, records } = captureLogger();
  const client = new Client({ handshake, plugins: { kv: kvPlugin() }, cmd: testPlugin, name: "kv", logger, ...extra });
  return { client, records };
}

describe("host SDK with a TypeScript plugin process", function () {
  this.timeout(30_000);

  it("starts the plugin, dispenses a typed client and round-trips calls", async () => {
    const { client } = kvClient();
    try {
      const kv: KV = await client.dispense("kv");
      await kv.put("greeting", Buffer.from("hello"));
      assert.equal((await kv.get("greeting")).toString(), "hello");
      await client.ping();
      await assert.rejects(kv.get("missing"), /no such key: missing/);
    } finally {
      await client.kill();
    }
  });

  it("forwards the plugin's hclog lines and raw stdio into pino with its name and level", async () => {
    const { client, records } = kvClient();
    try {
      await client.dispense("kv");
      const find = (msg: string) => records.find((r) => r.msg === msg);
      await waitFor(
        () => find("plain stderr line") && find("hello at error") && find("raw stderr pipe line"),
        10_000,
        "plugin logs",
      );
      const levels: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };
      for (const [name, level] of Object.entries(levels)) {
        const r = find(`hello at ${name}`);
        assert.ok(r, `missing ${name}`);
        assert.equal(r.level, level, `${name} level`);
        assert.equal(r.plugin, "kv");
        assert.equal(r.n, 1, "hclog fields are kept");
        assert.equal(r.stream, "stderr");
        assert.equal(r.source, "hclog", "an hclog JSON line says so");
      }
      // Where each line came from: GRPCStdio (the plugin's stdout/stderr), the raw stderr pipe, hclog (above).
      assert.deepEqual(
        ["plain stdout line", "plain stderr line", "raw stderr pipe line"].map((m) => {
          const r = find(m);
          return [m, r?.source, r?.stream, r?.level, r?.plugin];
        }),
        [
          ["plain stdout line", "grpc-stdio", "stdout", 30, "kv"],
          ["plain stderr line", "grpc-stdio", "stderr", 30, "kv"],
          ["raw stderr pipe line", "stderr", "stderr", 20, "kv"],
        ],
      );
    } finally {
      await client.kill();
    }
  });

  it("a plugin that floods its stderr log answers; no line is lost or cut (no EAGAIN on a full pipe)", async () => {
    const { client, records } = kvClient();
    try {
      const kv = await client.dispense("kv");
      assert.equal((await kv.get("log-flood:5000")).toString(), "5000");
      await waitFor(() => records.some((r) => r.msg === "flood line 5000 of 5000"), 20_000, "the last flood line");
      const flood = records.filter((r) => String(r.msg).startsWith("flood line "));
      assert.equal(flood.length, 5000);
      assert.ok(flood.every((r) => r.pad === "x".repeat(100) && r.level === 30));
    } finally {
      await client.kill();
    }
  });

  it("kill() logs no warning about the stdio stream it ends itself", async () => {
    const { client, records } = kvClient();
    await client.dispense("kv");
    await client.kill();
    // The host's own records (plugin lines carry `stream`).
    assert.deepEqual(
      records.filter((r) => (r.level as number) >= 40 && r.stream === undefined).map((r) => r.msg),
      [],
    );
  });

  it("names a plugin after its command, or the script an interpreter runs", () => {
    assert.equal(commandName({ command: "/opt/plugins/kv-plugin", args: ["-versions", "1"] }), "kv-plugin");
    assert.equal(commandName({ command: "node", args: ["--enable-source-maps", "/x/kv.ts"] }), "kv.ts");
    assert.equal(commandName({ command: "sh", args: ["-c", "FOO=1 exec ./bin/counter --flag"] }), "counter");
    assert.equal(commandName({ command: "sh", args: ["-c", ""] }), "sh");
  });

  it("kill() shuts the plugin down gracefully and removes its socket folder", async () => {
    const { client } = kvClient();
    const kv = await client.dispense("kv");
    const pid = Number((await kv.get("pid")).toString());
    const info = await client.start();
    const dir = info.handshake.address.replace(/\/[^/]+$/, "");
    assert.ok(existsSync(dir));
    await client.kill();
    assert.equal(alive(pid), false);
    assert.equal(existsSync(dir), false);
    await assert.rejects(client.dispense("kv"), { code: "CLIENT_CLOSED" });
  });

  it("kill() SIGKILLs a plugin that does not stop within the deadline", async () => {
    const { client, records } = kvClient({ killTimeoutMs: 300 });
    const kv = await client.dispense("kv");
    const pid = Number((await kv.get("pid")).toString());
    process.kill(pid, "SIGSTOP"); // frozen: it can neither answer Shutdown nor exit
    await client.kill();
    assert.equal(alive(pid), false);
    assert.ok(records.some((r) => r.msg === "plugin failed to exit gracefully; killing it"));
  });

  it("refuses to dispense a plugin name it does not know", async () => {
    const { client } = kvClient();
    try {
      await assert.rejects(
        // @ts-expect-error: the name is not in the plugin map
        client.dispense("nope"),
        (err: Error) => isPodplugError(err, "PLUGIN_UNKNOWN") && /knows: kv/.test(err.message),
      );
    } finally {
      await client.kill();
    }
  });

  it("negotiates the highest common version and refuses a plugin with none in common", async () => {
    const both = new Client({
      handshake,
      versionedPlugins: { 1: { kv: kvPlugin() }, 3: { kv: kvPlugin() } },
      cmd: { ...testPlugin, env: { TEST_VERSIONS: "2,3" } },
      logger: captureLogger().logger,
    });
    try {
      assert.equal((await both.start()).version, 3);
    } finally {
      await both.kill();
    }
    const none = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { ...testPlugin, env: { TEST_VERSIONS: "4,5" } },
      logger: captureLogger().logger,
    });
    await assert.rejects(
      none.start(),
      (err: Error) =>
        isPodplugError(err, "HANDSHAKE_APP_VERSION") && /Plugin version: 4, Client versions: \[1\]/.test(err.message),
    );
    await none.kill();
  });

  it("a plugin run by hand exits 1 with go-plugin's exact message", () => {
    const r = spawnSync(NODE, [fixture("test-plugin.ts")], { encoding: "utf8", env: { PATH: process.env.PATH } });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      "This binary is a plugin. These are not meant to be executed directly.\nPlease execute the program that consumes these plugins, which will\nload any plugins automatically\n",
    );
  });

  describe("handshake failures get coded errors and leave no process", () => {
    const cases: [string, Record<string, string>, string, RegExp][] = [
      [
        "junk on stdout",
        { BAD_MODE: "line", BAD_LINE: "hello from a chatty plugin" },
        "HANDSHAKE_MALFORMED",
        /Unrecognized remote plugin message.*chatty/,
      ],
      [
        "a newer core protocol",
        { BAD_MODE: "line", BAD_LINE: "2|1|unix|/tmp/x|grpc|" },
        "HANDSHAKE_CORE_VERSION",
        /^Incompatible core API version: plugin bad-plugin.ts speaks "2", this host speaks 1\./,
      ],
      [
        "a version the host did not offer",
        { BAD_MODE: "line", BAD_LINE: "1|7|unix|/tmp/x|grpc|" },
        "HANDSHAKE_APP_VERSION",
        /Plugin version: 7/,
      ],
      [
        "net/rpc instead of gRPC",
        { BAD_MODE: "line", BAD_LINE: "1|1|unix|/tmp/x|netrpc|" },
        "HANDSHAKE_PROTOCOL",
        /netrpc/,
      ],
      ["a TCP address", { BAD_MODE: "line", BAD_LINE: "1|1|tcp|127.0.0.1:1|grpc|" }, "HANDSHAKE_NETWORK", /tcp/],
      [
        "an exit before the line, quoting stderr",
        { BAD_MODE: "exit" },
        "PLUGIN_EXITED",
        /exit status 3.*config file \/etc\/kv.conf missing/s,
      ],
    ];
    for (const [what, env, code, msg] of cases) {
      it(what, async () => {
        const client = new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          cmd: { command: NODE, args: [fixture("bad-plugin.ts")], env },
          logger: captureLogger().logger,
          startTimeoutMs: 10_000,
        });
        await assert.rejects(
          client.start(),
          (err: Error) => isPodplugError(err, code as never) && msg.test(err.message),
        );
        await client.kill();
      });
    }

    it("a plugin that never prints times out, with its stderr in the message", async () => {
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: { command: NODE, args: [fixture("bad-plugin.ts")], env: { BAD_MODE: "hang" } },
        logger: captureLogger().logger,
        startTimeoutMs: 1500,
      });
      await assert.rejects(
        client.start(),
        (err: Error) => isPodplugError(err, "HANDSHAKE_TIMEOUT") && /starting slowly/.test(err.message),
      );
      await client.kill();
    });

    it("a command that does not exist", async () => {
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: { command: "/nonexistent/plugin" },
        logger: captureLogger().logger,
      });
      await assert.rejects(client.start(), { code: "PLUGIN_EXITED" });
    });

    it("a host asking for broker multiplexing gets it (PLUGIN_MULTIPLEX_GRPC; refusals: test/interop/multiplex.test.ts)", async () => {
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: testPlugin,
        multiplex: true,
        logger: captureLogger().logger,
      });
      try {
        const info = await client.start();
        assert.equal(info.handshake.multiplex, true);
        await client.ping();
      } finally {
        await client.kill();
      }
    });

    it("the cookie mismatch shows up as the plugin's exit with go-plugin's message", async () => {
      const client = new Client({
        handshake: { ...handshake, magicCookieValue: "wrong" },
        plugins: { kv: kvPlugin() },
        cmd: testPlugin,
        logger: captureLogger().logger,
      });
      await assert.rejects(
        client.start(),
        (err: Error) => isPodplugError(err, "PLUGIN_EXITED") && /This binary is a plugin/.test(err.message),
      );
    });
  });

  it("a plugin that dies mid-call fails the call with UNAVAILABLE; the host carries on", async () => {
    const { client } = kvClient();
    try {
      const kv = await client.dispense("kv");
      await assert.rejects(kv.get("crash"), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
      await waitFor(() => client.exited, 5000, "plugin exit");
    } finally {
      await client.kill();
    }
  });

  it("an oversize message gets RESOURCE_EXHAUSTED and both sides keep working", async () => {
    const { client } = kvClient();
    try {
      const kv = await client.dispense("kv");
      await assert.rejects(
        kv.put("big", Buffer.alloc(5 * 1024 * 1024)),
        (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED,
      );
      await kv.put("small", Buffer.from("ok"));
      assert.equal((await kv.get("small")).toString(), "ok");
    } finally {
      await client.kill();
    }
  });

  it("AutoMTLS: the host's client talks over mutual TLS with the plugin's announced certificate", async () => {
    const { client } = kvClient({ autoMTLS: true });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("over TLS"));
      assert.equal((await kv.get("k")).toString(), "over TLS");
      assert.ok((await client.start()).handshake.serverCert.length > 50, "the plugin announced a certificate");
    } finally {
      await client.kill();
    }
  });

  it("AutoMTLS: the plugin accepts only the host's certificate: a stranger's and plain text are refused", async () => {
    const t = tempDir();
    const host = await generateCertificate();
    const stranger = await generateCertificate();
    const plugin = spawnGuarded(NODE, [fixture("test-plugin.ts")], {
      env: {
        ...process.env,
        [handshake.magicCookieKey]: handshake.magicCookieValue,
        PLUGIN_PROTOCOL_VERSIONS: "1",
        PLUGIN_UNIX_SOCKET_DIR: t.dir,
        PLUGIN_CLIENT_CERT: host.certPem,
      },
    });
    try {
      const line = await new Promise<string>((r) => plugin.stdout!.once("data", (d: Buffer) => r(d.toString())));
      const hs = parseHandshake(line, { versions: [1] });
      const pluginCert = handshakeFieldToCert(hs.serverCert);
      const call = (security: TransportSecurity): Promise<string> => {
        const channel = dialUnix(hs.address, security);
        const kv = new KVClient("unused", security.channel, { channelOverride: channel });
        return new Promise<string>((res) =>
          kv.get({ key: "pid" }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) =>
            res(e ? `code ${e.code}` : r.value.toString()),
          ),
        ).finally(() => channel.close());
      };
      // The control: the very same dial with the host's own certificate works, so a refusal below is the certificate's.
      assert.equal(await call(mtlsTransport(host, pluginCert)), String(plugin.pid));
      assert.equal(
        await call(mtlsTransport(stranger, pluginCert)),
        `code ${grpc.status.UNAVAILABLE}`,
        "a stranger's certificate",
      );
      assert.equal(await call(insecureTransport()), `code ${grpc.status.UNAVAILABLE}`, "plain text");
      assert.equal(await call(mtlsTransport(host, pluginCert)), String(plugin.pid), "the plugin still serves its host");
    } finally {
      plugin.kill("SIGKILL");
      await exitOf(plugin);
      t.remove();
    }
  });

  it("leaves no sockets in the temp folder after kill", async () => {
    const t = tempDir();
    try {
      const { client } = kvClient({ socketDir: t.dir });
      await client.dispense("kv");
      assert.ok(readdirSync(t.dir).some((n) => n.startsWith("plugin")));
      await client.kill();
      assert.deepEqual(readdirSync(t.dir), []);
    } finally {
      t.remove();
    }
  });
});
