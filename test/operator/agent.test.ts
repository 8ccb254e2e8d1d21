import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { agentConfig } from "../../src/agent/main.ts";
import { handshakeEndpoint } from "../../src/agent/socket.ts";
import { HealthService, HealthCheckResponse_ServingStatus as Status } from "../../src/gen/grpc/health/v1/health.ts";
import { PluginHealth } from "../../src/protocol/health.ts";
import { run } from "../cluster/kubectl.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";
import { ROOT } from "./helpers.ts";

/** A real gRPC health server on a Unix socket, as a plugin serves it (optionally with AutoMTLS credentials). */
async function healthServer(
  socket: string,
  creds: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<{ health: PluginHealth; stop(): Promise<void> }> {
  const health = new PluginHealth();
  const server = new Server();
  server.addService(HealthService, health.implementation());
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, creds, (err) => (err ? reject(err) : resolve())),
  );
  return { health, stop: () => new Promise((r) => server.tryShutdown(() => r())) };
}

/** A socket file whose listener was SIGKILLed: it stays on disk, refusing connections. */
async function staleSocket(path: string): Promise<void> {
  const { spawn } = await import("node:child_process");
  const { existsSync } = await import("node:fs");
  const child = spawn(process.execPath, ["-e", `require('net').createServer().listen(${JSON.stringify(path)})`], {
    stdio: "ignore",
  });
  await waitFor(`listener on ${path}`, () => existsSync(path), 10_000, 20);
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
}

describe("podplug-agent answers the kubelet's probes over each plugin's socket", function () {
  this.timeout(60_000);
  let root: string;
  let agent: ManagedProcess;
  let url: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "podplug-agent-"));
    for (const n of ["kv", "gokv", "stale", "empty", "junk", "tls", "tlsnokey", "gotls"]) mkdirSync(join(root, n));
    for (const n of ["tls", "gotls"]) mkdirSync(join(root, "mtls", n), { recursive: true });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    agent = new ManagedProcess("agent", process.execPath, [join(ROOT, "src/agent/main.ts")], join(root, "agent.log"), {
      ...process.env,
      PODPLUG_SOCKET_ROOT: root,
      PODPLUG_PLUGINS: "kv,gokv,stale,empty,junk,tls,tlsnokey,gotls",
      PODPLUG_AGENT_PORT: String(port),
      PODPLUG_AGENT_HOST: "127.0.0.1",
      PODPLUG_MTLS_ROOT: join(root, "mtls"),
    });
    await waitFor(
      "agent /healthz",
      async () => {
        agent.assertRunning();
        return (await fetch(`${url}/healthz`)).ok;
      },
      20_000,
      100,
    );
  });
  after(async () => {
    await agent?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`${url}${path}`);
    return { status: r.status, body: await r.text() };
  };

  it("follows the handshake file (sidecar mode): 200 while SERVING, 503 when NOT_SERVING, 503 once gone", async () => {
    const sock = join(root, "kv", "plugin.sock");
    const srv = await healthServer(sock);
    writeFileSync(join(root, "kv", "handshake"), `1|1|unix|${sock}|grpc|\n`);
    assert.deepEqual(await get("/livez/kv"), { status: 200, body: "SERVING\n" });
    assert.equal((await get("/readyz/kv")).status, 200);
    srv.health.setStatus("plugin", Status.NOT_SERVING);
    const r = await get("/livez/kv");
    assert.equal(r.status, 503);
    assert.match(r.body, /not SERVING \[AGENT_NOT_SERVING\]/);
    await srv.stop();
    const gone = await get("/livez/kv");
    assert.equal(gone.status, 503);
    assert.match(gone.body, /\[AGENT_CHECK_FAILED\]/);
  });

  it("without a handshake file finds the newest live plugin* socket (an unmodified Go plugin)", async () => {
    // A stale socket from a killed process, then the live one under a random name.
    await staleSocket(join(root, "gokv", "plugin000001"));
    writeFileSync(join(root, "gokv", "plugin-not-a-socket"), "x");
    const srv = await healthServer(join(root, "gokv", "plugin982134"));
    assert.equal((await get("/livez/gokv")).status, 200);
    await srv.stop();
    // A newer stale socket (the plugin was killed and its replacement is not up) does not hide a live one.
    const again = await healthServer(join(root, "gokv", "plugin555555"));
    await staleSocket(join(root, "gokv", "plugin999999"));
    assert.equal((await get("/livez/gokv")).status, 200);
    await again.stop();
  });

  it("says why when there is no live socket, a foreign handshake, or nothing at all", async () => {
    await staleSocket(join(root, "stale", "plugin123"));
    const s = await get("/livez/stale");
    assert.equal(s.status, 503);
    assert.match(
      s.body,
      /no handshake file and no live plugin\* socket in .*stale \(1 stale socket\(s\) found\).*\[AGENT_NO_SOCKET\]/,
    );
    writeFileSync(join(root, "junk", "handshake"), "hello world");
    assert.match(
      (await get("/livez/junk")).body,
      /not a usable go-plugin handshake line: Unrecognized remote plugin message.*\[AGENT_BAD_HANDSHAKE_FILE\]/,
    );
    writeFileSync(join(root, "junk", "handshake"), "1|1|tcp|127.0.0.1:1234|grpc");
    assert.match((await get("/livez/junk")).body, /listens on tcp, which this host does not allow/);
    assert.equal((await get("/livez/empty")).status, 503);
  });

  it("AutoMTLS: checks with the mounted host certificate against the one the plugin announced", async () => {
    const { generateCertificate, certToHandshakeField } = await import("../../src/protocol/mtls.ts");
    const { mtlsTransport } = await import("../../src/protocol/transport.ts");
    const host = await generateCertificate();
    const plugin = await generateCertificate();
    writeFileSync(join(root, "mtls", "tls", "tls.crt"), host.certPem);
    writeFileSync(join(root, "mtls", "tls", "tls.key"), host.keyPem);
    // The plugin trusts exactly the host certificate (its PLUGIN_CLIENT_CERT).
    const sock = join(root, "tls", "plugin.sock");
    const srv = await healthServer(sock, mtlsTransport(plugin, host.certPem).server);
    writeFileSync(join(root, "tls", "handshake"), `1|1|unix|${sock}|grpc|${certToHandshakeField(plugin.certPem)}\n`);
    assert.deepEqual(await get("/livez/tls"), { status: 200, body: "SERVING\n" });
    // The same plugin, with no host certificate mounted for it: the agent says what is missing.
    writeFileSync(
      join(root, "tlsnokey", "handshake"),
      `1|1|unix|${sock}|grpc|${certToHandshakeField(plugin.certPem)}\n`,
    );
    const r = await get("/livez/tlsnokey");
    assert.equal(r.status, 503);
    assert.match(r.body, /serves AutoMTLS but .*tls\.crt and tls\.key are not mounted.*\[AGENT_MTLS\]/);
    // A certificate from someone else is refused by the plugin: the check fails.
    const other = await generateCertificate();
    writeFileSync(join(root, "mtls", "tls", "tls.crt"), other.certPem);
    writeFileSync(join(root, "mtls", "tls", "tls.key"), other.keyPem);
    const refused = await get("/livez/tls");
    assert.equal(refused.status, 503);
    assert.match(refused.body, /\[AGENT_CHECK_FAILED\]/);
    await srv.stop();
    // A Go-style socket without a handshake file cannot be checked under AutoMTLS.
    writeFileSync(join(root, "mtls", "gotls", "tls.crt"), host.certPem);
    writeFileSync(join(root, "mtls", "gotls", "tls.key"), host.keyPem);
    const go = await healthServer(join(root, "gotls", "plugin4242"));
    const g = await get("/livez/gotls");
    assert.equal(g.status, 503);
    assert.match(g.body, /announced no certificate of its own.*\[AGENT_MTLS\]/);
    await go.stop();
  });

  it("refuses unknown plugins, bad names, routes and methods", async () => {
    assert.equal((await get("/livez/other")).status, 404);
    assert.equal((await get("/livez/..%2Fetc")).status, 400);
    assert.equal((await get("/metrics")).status, 404);
    assert.equal((await fetch(`${url}/livez/kv`, { method: "POST" })).status, 405);
  });

  it("exits 0 on SIGTERM", async () => {
    agent.child.kill("SIGTERM");
    assert.equal(await agent.exited(), 0);
  });
});

describe("podplug-agent bad input", () => {
  it("parses the handshake address and refuses lines that are not one", () => {
    assert.deepEqual(handshakeEndpoint("1|1|unix|/var/run/podplug/kv/plugin.sock|grpc|\n", "f"), {
      socket: "/var/run/podplug/kv/plugin.sock",
    });
    const cert = "MIIB".padEnd(80, "A"); // go-plugin reads field 6 as a certificate only past 50 characters
    assert.deepEqual(handshakeEndpoint(`1|1|unix|/s|grpc|${cert}`, "f"), { socket: "/s", serverCert: cert });
    assert.throws(() => handshakeEndpoint("1|1|tcp|127.0.0.1:1|grpc|", "f"), {
      code: "AGENT_BAD_HANDSHAKE_FILE",
    });
    assert.throws(() => handshakeEndpoint("1|1|unix", "f"), { code: "AGENT_BAD_HANDSHAKE_FILE" });
    assert.throws(() => handshakeEndpoint("", "f"), { code: "AGENT_BAD_HANDSHAKE_FILE" });
  });
  it("refuses a bad port or timeout with a code", async () => {
    assert.throws(() => agentConfig({ PODPLUG_AGENT_PORT: "http" }), { code: "AGENT_BAD_CONFIG" });
    assert.throws(() => agentConfig({ PODPLUG_AGENT_CHECK_TIMEOUT_MS: "-1" }), { code: "AGENT_BAD_CONFIG" });
    const r = await run(process.execPath, [join(ROOT, "src/agent/main.ts")], {
      env: { ...process.env, PODPLUG_AGENT_PORT: "70000" },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PODPLUG_AGENT_PORT=70000 is not a port.*\[AGENT_BAD_CONFIG\]/);
  });
});
