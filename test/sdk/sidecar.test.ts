/**
 * Sidecar mode: a plugin started by someone else (the operator, the local
 * runtime) announces itself through a handshake file; the host attaches.
 */
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, sidecarAttach } from "../../src/host/index.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { alive, captureLogger, startSidecar, stopProcess, tempDir, waitFor } from "../helpers.ts";

describe("sidecar mode", function () {
  this.timeout(30_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("writes the handshake line to a file next to a fixed socket, and the host attaches", async () => {
    const plugin = startSidecar(t.dir);
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("v"));
      assert.equal((await kv.get("k")).toString(), "v");
      const line = readFileSync(join(t.dir, "handshake"), "utf8");
      assert.equal(line, `1|1|unix|${join(t.dir, "plugin.sock")}|grpc|\n`);
      assert.ok(lstatSync(join(t.dir, "plugin.sock")).isSocket());
      assert.deepEqual(
        readdirSync(t.dir).filter((n) => n.endsWith(".tmp")),
        [],
        "no temp file left from the atomic write",
      );
    } finally {
      await client.kill();
    }
    assert.ok(alive(plugin.pid!), "kill() on an attached client leaves the sidecar running");
    await stopProcess(plugin);
    assert.equal(existsSync(join(t.dir, "handshake")), false, "SIGTERM removes the handshake file");
    assert.equal(existsSync(join(t.dir, "plugin.sock")), false, "and the socket");
  });

  it("a restarted sidecar replaces the stale socket left by a SIGKILLed one", async () => {
    const first = startSidecar(t.dir);
    await waitFor(() => existsSync(join(t.dir, "handshake")), 10_000, "first handshake");
    first.kill("SIGKILL");
    await new Promise((r) => first.once("close", r));
    assert.ok(existsSync(join(t.dir, "plugin.sock")), "the dead socket stays behind");
    const second = startSidecar(t.dir);
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal(Number((await kv.get("pid")).toString()), second.pid);
    } finally {
      await client.kill();
      await stopProcess(second);
    }
  });

  it("a handshake file older than the socket it names is not taken until the plugin writes its own", async () => {
    const plugin = startSidecar(t.dir);
    const file = join(t.dir, "handshake");
    await waitFor(() => existsSync(file), 10_000, "handshake");
    // As a SIGKILLed plugin leaves it, with its restart already listening on the same socket.
    const line = readFileSync(file, "utf8");
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const attach = (startTimeoutMs: number) =>
      new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        attach: { dir: t.dir },
        logger: captureLogger().logger,
        startTimeoutMs,
      });
    try {
      await assert.rejects(attach(500).start(), (err: Error & { code?: string }) => err.code === "SOCKET_NOT_FOUND");
      writeFileSync(file, line);
      const client = attach(10_000);
      try {
        const kv = await client.dispense("kv");
        assert.equal(Number((await kv.get("pid")).toString()), plugin.pid);
      } finally {
        await client.kill();
      }
    } finally {
      await stopProcess(plugin);
    }
  });

  it("a second sidecar on a live socket refuses to start and leaves the first serving", async () => {
    const first = startSidecar(t.dir);
    await waitFor(() => existsSync(join(t.dir, "handshake")), 10_000, "first handshake");
    const second = startSidecar(t.dir);
    let stderr = "";
    second.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => second.once("close", r));
    assert.notEqual(code, 0);
    assert.match(stderr, /SOCKET_IN_USE|another process is serving/);
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal(Number((await kv.get("pid")).toString()), first.pid);
    } finally {
      await client.kill();
      await stopProcess(first);
    }
  });

  it("AutoMTLS in sidecar mode: the host finds its certificate where the operator mounts it", async () => {
    const host = await generateCertificate();
    const certDir = join(t.dir, "mtls", "kv");
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, "tls.crt"), host.certPem);
    writeFileSync(join(certDir, "tls.key"), host.keyPem);
    const sockets = join(t.dir, "sockets", "kv");
    mkdirSync(sockets, { recursive: true });
    const plugin = startSidecar(sockets, { PLUGIN_CLIENT_CERT: host.certPem });
    const env = {
      PODPLUG_SOCKET_ROOT: join(t.dir, "sockets"),
      PODPLUG_PLUGINS: "kv",
      PODPLUG_MTLS_ROOT: join(t.dir, "mtls"),
    };
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: sidecarAttach("kv", env),
      logger: captureLogger().logger,
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("tls"));
      assert.equal((await kv.get("k")).toString(), "tls");
      assert.ok(
        (await client.start()).handshake.serverCert.length > 50,
        "the handshake file carries the plugin's certificate",
      );
      // Without the mounted certificate the host says what is missing.
      const bare = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        attach: sidecarAttach("kv", { ...env, PODPLUG_MTLS_ROOT: join(t.dir, "nowhere") }),
        logger: captureLogger().logger,
      });
      await assert.rejects(
        bare.start(),
        (err: Error & { code?: string }) => err.code === "HANDSHAKE_CERT" && /podplug-kv-mtls/.test(err.message),
      );
    } finally {
      await client.kill();
      await stopProcess(plugin);
    }
  });

  it("sidecarAttach refuses outside an injected pod and for a plugin the pod does not have", () => {
    assert.throws(() => sidecarAttach("kv", {}), {
      code: "NOT_INJECTED",
      message: /not injected by the podplug operator/,
    });
    assert.throws(() => sidecarAttach("kv", { PODPLUG_SOCKET_ROOT: "/var/run/podplug", PODPLUG_PLUGINS: "counter" }), {
      code: "PLUGIN_UNKNOWN",
    });
    assert.deepEqual(sidecarAttach("kv", { PODPLUG_SOCKET_ROOT: "/r", PODPLUG_PLUGINS: "kv" }), {
      dir: "/r/kv",
      plugin: "kv",
    });
  });

  it("attach fails with SOCKET_NOT_FOUND, naming what it found, when nothing serves", async () => {
    writeFileSync(join(t.dir, "notes.txt"), "");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
      startTimeoutMs: 500,
    });
    await assert.rejects(
      client.start(),
      (err: Error & { code?: string }) => err.code === "SOCKET_NOT_FOUND" && /notes\.txt/.test(err.message),
    );
  });

  it("a malformed handshake file is a coded error, not a hang", async () => {
    writeFileSync(join(t.dir, "handshake"), "garbage\n");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
    });
    await assert.rejects(
      client.start(),
      (err: Error & { code?: string }) =>
        err.code === "HANDSHAKE_MALFORMED" && err.message.includes(join(t.dir, "handshake")),
    );
  });

  it("a socket path that is too long is refused with the fix in the message", async () => {
    const deep = join(t.dir, "x".repeat(100));
    const plugin = startSidecar(deep);
    let stderr = "";
    plugin.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => plugin.once("close", r));
    assert.notEqual(code, 0);
    assert.match(stderr, /SOCKET_PATH_TOO_LONG|at most 107/);
  });
});
