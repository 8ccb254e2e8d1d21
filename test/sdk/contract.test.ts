/**
 * The contract between a Plugin's protocol versions, the plugin and its host
 * in sidecar mode, with real processes: the plugin refuses versions it does
 * not serve (go-plugin's message, exit 1), the host refuses a handshake
 * outside what it offered, the local runtime shows the refusal as a coded
 * error; and the host's logs say what it does in attach mode.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { isPodplugError } from "../../src/errors.ts";
import { Client } from "../../src/host/index.ts";
import { forwardStderr } from "../../src/host/logs.ts";
import { run } from "../../src/local/run.ts";
import { findPluginEndpoint } from "../../src/protocol/sidecar.ts";
import { captureLogger, NODE, ROOT, startSidecar, stopProcess, tempDir, waitFor } from "../helpers.ts";

const sidecar = (dir: string, env: Record<string, string>): ChildProcess =>
  startSidecar(dir, { PODPLUG_PLUGIN_NAME: "kv", ...env });

async function exited(p: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => p.once("close", r));
  return { code, stdout, stderr };
}

describe("the protocol-version contract in sidecar mode", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("a plugin serving none of PLUGIN_PROTOCOL_VERSIONS exits 1 with go-plugin's message and a code, announcing nothing", async () => {
    const r = await exited(sidecar(t.dir, { PLUGIN_PROTOCOL_VERSIONS: "2,3" }));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "", "no handshake line on stdout");
    const line = r.stderr.split("\n").find((l) => l.includes("Incompatible API version"));
    assert.ok(line, r.stderr);
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec["@level"], "error");
    assert.equal(rec.code, "HANDSHAKE_APP_VERSION");
    assert.equal(rec["@module"], "kv");
    assert.match(
      String(rec["@message"]),
      /^Incompatible API version with plugin\. Plugin version: 1, Client versions: \[2 3\]/,
    );
    assert.deepEqual(rec.served, [1]);
    assert.equal(existsSync(join(t.dir, "handshake")), false);
    assert.equal(existsSync(join(t.dir, "plugin.sock")), false);
  });

  it("a plugin serving one of them announces the highest in common", async () => {
    const p = sidecar(t.dir, { PLUGIN_PROTOCOL_VERSIONS: "2,3", TEST_VERSIONS: "1,2" });
    try {
      const line = await waitFor(() => readLine(join(t.dir, "handshake")), 15_000, "handshake file");
      assert.match(line, /^1\|2\|unix\|/);
    } finally {
      await stopProcess(p);
    }
  });

  it("a sidecar's plugin.sock counts only through its handshake file, never as a Go plugin's socket", async () => {
    const listen = (path: string): Promise<Server> =>
      new Promise((res) => {
        const s = createServer();
        s.listen(path, () => res(s));
      });
    const sidecarSocket = await listen(join(t.dir, "plugin.sock"));
    try {
      // Bound, file not yet written: nothing to attach to (the host would otherwise assume its own version).
      assert.deepEqual(await findPluginEndpoint(t.dir), { kind: "none", staleSockets: 0 });
      const goSocket = await listen(join(t.dir, "plugin123456"));
      try {
        assert.deepEqual(await findPluginEndpoint(t.dir), { kind: "socket", socket: join(t.dir, "plugin123456") });
      } finally {
        goSocket.close();
      }
    } finally {
      sidecarSocket.close();
    }
  });

  it("the host refuses a handshake outside the versions it offered with HANDSHAKE_APP_VERSION", async () => {
    // The Plugin says [2] and the plugin serves 2, but this host's plugin map is at version 1.
    const p = sidecar(t.dir, { PLUGIN_PROTOCOL_VERSIONS: "2", TEST_VERSIONS: "2" });
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      logger: captureLogger().logger,
      startTimeoutMs: 10_000,
    });
    try {
      const err = await client.dispense("kv").then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isPodplugError(err, "HANDSHAKE_APP_VERSION"), String(err));
      assert.match(err.message, /Plugin version: 2, Client versions: \[1\]/);
      assert.equal(client.state, "stopped");
    } finally {
      await client.kill();
      await stopProcess(p);
    }
  });

  it("podplug run shows the plugin's refusal as a coded error", async () => {
    writeFileSync(
      join(t.dir, "pods.yaml"),
      `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: kv}
spec:
  image: example/kv:1
  command: [node, test/fixtures/test-plugin.ts]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [2, 3]}
  selector: {matchLabels: {app: h}}
---
apiVersion: v1
kind: Pod
metadata: {name: h, labels: {app: h}}
spec:
  containers:
    - {name: host, image: example/host:1, command: [node, -e, "setInterval(() => {}, 1000)"]}
`,
    );
    const cap = captureLogger("info");
    const r = await run({
      files: [t.dir],
      cwd: ROOT,
      stateDir: join(t.dir, "s"),
      metricsPort: 0,
      view: false,
      logger: cap.logger,
      backoff: { initialMs: 100, maxMs: 400, crashLoopAfter: 3 },
    });
    try {
      const rec = await waitFor(
        () => cap.records.find((x) => x.container === "podplug-kv" && x.code === "HANDSHAKE_APP_VERSION"),
        30_000,
        "the plugin's coded refusal in the run's log",
      );
      assert.equal(rec.level, 50, "logged as an error");
      assert.equal(rec.plugin, "kv");
      assert.match(
        String(rec.msg),
        /Incompatible API version with plugin\. Plugin version: 1, Client versions: \[2 3\]/,
      );
    } finally {
      await r.stop();
    }
  });
});

describe("host logs in attach mode", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("say the host re-attaches to a replaced sidecar, never that it restarts it", async () => {
    const env = { PLUGIN_PROTOCOL_VERSIONS: "1" };
    let p = sidecar(t.dir, env);
    const cap = captureLogger();
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: t.dir },
      name: "kv",
      logger: cap.logger,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("v"));
      p.kill("SIGKILL");
      await new Promise((r) => p.once("close", r));
      p = sidecar(t.dir, env);
      await waitFor(() => client.restartCount === 1 && client.state === "ready", 30_000, "re-attach");
      const msgs = cap.records.filter((x) => x.plugin === "kv").map((x) => String(x.msg));
      assert.ok(msgs.includes("plugin failed; re-attaching when it serves again"), msgs.join("\n"));
      const done = cap.records.find((x) => x.msg === "re-attached to the plugin");
      assert.equal(done?.reattaches, 1);
      assert.deepEqual(
        msgs.filter((m) => /restart/i.test(m)),
        [],
        "attach mode never says restart",
      );
    } finally {
      await client.kill();
      await stopProcess(p);
    }
  });

  it("forward a process's log fields without doubling names (no plugin_plugin)", async () => {
    // A host's own pino line (bound plugin: kv), as the local runtime forwards a host container's output,
    // and a plugin's hclog line with a field that clashes with the forwarding logger's binding.
    const child = spawn(
      NODE,
      [
        "-e",
        `process.stderr.write(JSON.stringify({ level: 30, time: 1, pid: 9, hostname: "x", plugin: "kv", msg: "called" }) + "\\n");
         process.stderr.write(JSON.stringify({ "@level": "info", "@message": "hi", "@module": "kv", plugin: "kv", container: "other" }) + "\\n");`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const cap = captureLogger();
    forwardStderr(child.stderr!, cap.logger.child({ container: "host" }));
    const sameName = captureLogger();
    await new Promise((r) => child.once("close", r));
    await waitFor(() => cap.records.length === 2, 5000, "two forwarded records");
    const [pinoLine, hclogLine] = cap.records;
    assert.equal(pinoLine!.plugin, "kv");
    assert.equal(hclogLine!.container, "host");
    assert.equal(hclogLine!.line_container, "other", "a clashing value is kept, once, under line_");
    for (const r of cap.records) assert.ok(!Object.keys(r).some((k) => k === "plugin_plugin"), JSON.stringify(r));
    // Under a logger already bound to plugin: kv, the same fact is not repeated.
    const again = spawn(
      NODE,
      ["-e", `process.stderr.write(JSON.stringify({ "@level": "info", "@message": "hi", plugin: "kv" }) + "\\n")`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    forwardStderr(again.stderr!, sameName.logger.child({ plugin: "kv" }));
    await new Promise((r) => again.once("close", r));
    await waitFor(() => sameName.records.length === 1, 5000, "one forwarded record");
    const keys = Object.keys(sameName.records[0]!);
    assert.equal(keys.filter((k) => k.includes("plugin")).length, 1, keys.join(","));
  });
});

/** The file's line, or "" while it is not (yet) there. */
function readLine(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
