/**
 * The contract between a Plugin's protocol versions, the plugin and its host
 * in sidecar mode, with real processes: the plugin refuses versions it does
 * not serve (go-plugin's message, exit 1), the host refuses a handshake
 * outside what it offered, the local runtime shows the refusal as a coded
 * error; and the host's logs say what it does in attach mode.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { isPodplugError } from "../../src/errors.ts";
import { Client } from "../../src/host/index.ts";
import { type LocalRun, run } from "../../src/local/run.ts";
import { findPluginEndpoint } from "../../src/protocol/sidecar.ts";
import { captureLogger, ROOT, startSidecar, stopProcess, tempDir, waitFor } from "../helpers.ts";
import { idlePodYaml, testPluginYaml } from "../local/manifests.ts";

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
    writeFileSync(join(t.dir, "pods.yaml"), `${testPluginYaml("h", { versions: [2, 3] })}---\n${idlePodYaml("h")}`);
    const { cap, r } = await runLocal(t.dir);
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

  it("podplug run forwards a container's log fields without doubling names (no plugin_plugin)", async () => {
    // The host writes pino lines as a TypeScript host does (its Client's logger binds plugin: kv); the
    // local runtime forwards them under a logger bound to pod and container.
    const lines = [
      { level: 30, time: 1, pid: 9, hostname: "x", plugin: "kv", msg: "called" },
      { level: 30, time: 1, pid: 9, hostname: "x", container: "host", msg: "same" },
      { level: 30, time: 1, pid: 9, hostname: "x", container: "elsewhere", msg: "other" },
    ];
    const script = `for (const l of ${JSON.stringify(lines)}) console.log(JSON.stringify(l)); setInterval(() => {}, 1000);`;
    writeFileSync(
      join(t.dir, "pods.yaml"),
      `apiVersion: v1
kind: Pod
metadata: {name: h}
spec:
  containers:
    - {name: host, image: example/host:1, command: [node, -e, ${JSON.stringify(script)}]}
`,
    );
    const { cap, r } = await runLocal(t.dir);
    try {
      const rec = (msg: string): Record<string, unknown> | undefined =>
        cap.records.find((x) => x.container === "host" && x.msg === msg);
      await waitFor(() => rec("called") && rec("same") && rec("other"), 20_000, "the host's three lines");
      assert.equal(rec("called")!.plugin, "kv");
      assert.equal(rec("same")!.line_container, undefined, "the same fact as the binding is not repeated");
      assert.equal(rec("other")!.line_container, "elsewhere", "a clashing value is kept, once, under line_");
      for (const x of cap.records) {
        const keys = Object.keys(x);
        assert.ok(!keys.includes("plugin_plugin") && !keys.includes("plugin_container"), JSON.stringify(x));
      }
    } finally {
      await r.stop();
    }
  });
});

/** `podplug run` of the manifests in `dir`, its log captured, short back-offs. */
async function runLocal(dir: string): Promise<{ cap: ReturnType<typeof captureLogger>; r: LocalRun }> {
  const cap = captureLogger("info");
  const r = await run({
    files: [dir],
    cwd: ROOT,
    stateDir: join(dir, "s"),
    metricsPort: 0,
    view: false,
    logger: cap.logger,
    backoff: { initialMs: 100, maxMs: 400, crashLoopAfter: 3 },
  });
  return { cap, r };
}

/** The file's line, or "" while it is not (yet) there. */
function readLine(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
