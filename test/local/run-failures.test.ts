/**
 * Every way `podplug run` can fail to start: a coded error that names the
 * cause, and nothing left behind — no process, no temp state folder.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { isPodplugError } from "../../src/errors.ts";
import { run } from "../../src/local/run.ts";
import { captureLogger, NODE, ROOT, tempDir } from "../helpers.ts";

const plugin = (name: string) => `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: ${name}}
spec:
  image: example/kv:1
  command: [node, test/fixtures/test-plugin.ts]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [1]}
  selector: {matchLabels: {app: h}}
`;
const host = (containers: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: h, labels: {app: h}}
spec:
  selector: {matchLabels: {app: h}}
  template:
    metadata: {labels: {app: h}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: ${containers}
`;
const sleeper = "[{name: app, image: x, command: [node, -e, 'setInterval(() => {}, 1000)']}]";

/** A TCP port on loopback that something else holds. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, server };
}

describe("podplug run: failures leave nothing behind", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let tmp: ReturnType<typeof tempDir>;
  let savedTmp: string | undefined;
  beforeEach(() => {
    t = tempDir();
    tmp = tempDir();
    // The run's temp state folder goes here, where the test can see it.
    savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp.dir;
  });
  afterEach(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    t.remove();
    tmp.remove();
  });

  async function refused(code: string, message: RegExp, metricsPort = 0): Promise<void> {
    await assert.rejects(
      run({ files: [t.dir], cwd: ROOT, metricsPort, view: false, logger: captureLogger("info").logger }),
      (err: Error) => isPodplugError(err) && err.code === code && message.test(err.message),
    );
    assert.deepEqual(readdirSync(tmp.dir), [], "no state folder left in the temp folder");
  }

  it("a refused plugin name: MANIFEST_INVALID naming the file and the field", async () => {
    writeFileSync(join(t.dir, "p.yaml"), plugin("Not_A_Label"));
    writeFileSync(join(t.dir, "h.yaml"), host(sleeper));
    await refused("MANIFEST_INVALID", /p\.yaml: Plugin "Not_A_Label": metadata\.name: /);
  });

  it("a host container named like a plugin sidecar: MANIFEST_INVALID naming the host's file", async () => {
    writeFileSync(join(t.dir, "p.yaml"), plugin("kv"));
    writeFileSync(join(t.dir, "h.yaml"), host(sleeper.replace("name: app", "name: podplug-kv")));
    await refused("MANIFEST_INVALID", /h\.yaml: Deployment h: .*podplug-kv/);
  });

  it("a busy metrics port: LOCAL_METRICS_PORT_IN_USE saying what to pass instead", async () => {
    writeFileSync(join(t.dir, "p.yaml"), plugin("kv"));
    writeFileSync(join(t.dir, "h.yaml"), host(sleeper));
    const busy = await busyPort();
    try {
      await refused(
        "LOCAL_METRICS_PORT_IN_USE",
        new RegExp(`127\\.0\\.0\\.1:${busy.port} is in use.*--metrics-port 0`),
        busy.port,
      );
    } finally {
      busy.server.close();
    }
  });

  it("the CLI: a busy --metrics-port exits 2 with the code, and leaves no state folder", async () => {
    writeFileSync(join(t.dir, "p.yaml"), plugin("kv"));
    writeFileSync(join(t.dir, "h.yaml"), host(sleeper));
    const busy = await busyPort();
    try {
      const r = spawnSync(
        NODE,
        [join(ROOT, "src/cli/main.ts"), "run", "-f", t.dir, "--no-view", "--metrics-port", String(busy.port)],
        { cwd: ROOT, encoding: "utf8", timeout: 30_000, env: { ...process.env, TMPDIR: tmp.dir } },
      );
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /is in use.*\[LOCAL_METRICS_PORT_IN_USE\]/);
      assert.doesNotMatch(r.stderr, /EADDRINUSE\n\s+at /, "no stack trace");
      assert.deepEqual(readdirSync(tmp.dir), []);
    } finally {
      busy.server.close();
    }
  });

  it("the demo host: a busy DEMO_METRICS_PORT is a coded error and exit 1, not an unhandled EADDRINUSE", async () => {
    const busy = await busyPort();
    try {
      const r = spawnSync(NODE, [join(ROOT, "examples/demo/host.ts")], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, DEMO_METRICS_PORT: String(busy.port) },
      });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const line = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { code?: string; msg?: string };
      assert.equal(line.code, "DEMO_METRICS_PORT_IN_USE");
      assert.match(line.msg!, /is in use.*DEMO_METRICS_PORT/);
      assert.equal(r.stderr, "", "no uncaught exception");
    } finally {
      busy.server.close();
    }
  });
});
