/**
 * `podplug run` end to end: real plugin and host processes sharing a
 * socket folder, probed and restarted as the kubelet would.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import type { LocalContainer } from "../../src/local/container.ts";
import { type LocalRun, run } from "../../src/local/run.ts";
import { renderTable } from "../../src/local/view.ts";
import { alive, captureLogger, NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

function manifests(dir: string, extraPluginEnv = "", podSpecExtra = ""): void {
  writeFileSync(
    join(dir, "plugins.yaml"),
    `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: kv}
spec:
  image: example/kv:1
  command: [node, test/fixtures/test-plugin.ts]
  env: [{name: KV_DIR, value: /var/run/podplug/kv}${extraPluginEnv}]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [1]}
  selector: {matchLabels: {app: demo-host}}
  probes: {liveness: {periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2}}
---
apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: counter}
spec:
  image: example/counter:1
  command: [node, examples/counter/plugin.ts]
  env: [{name: KV_DIR, value: /var/run/podplug/counter}]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [1]}
  selector: {matchLabels: {app: demo-host}}
`,
  );
  writeFileSync(
    join(dir, "host.yaml"),
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo-host, labels: {app: demo-host}}
spec:
  selector: {matchLabels: {app: demo-host}}
  template:
    metadata: {labels: {app: demo-host}}
    spec:
      terminationGracePeriodSeconds: 1${podSpecExtra}
      containers:
        - {name: host, image: example/host:1, command: [node, examples/demo/host.ts], env: [{name: DEMO_METRICS_PORT, value: "0"}]}
`,
  );
}

describe("podplug run", function () {
  this.timeout(90_000);
  let t: ReturnType<typeof tempDir>;
  let r: LocalRun | undefined;
  let records: Record<string, unknown>[];

  beforeEach(() => {
    t = tempDir();
    // Passable by other users, so that (as root) each plugin runs as its own user, as `podplug run` does by default.
    chmodSync(t.dir, 0o711);
    r = undefined;
  });
  afterEach(async () => {
    await r?.stop();
    t.remove();
  });

  async function start(extraPluginEnv = "", podSpecExtra = ""): Promise<LocalRun> {
    manifests(t.dir, extraPluginEnv, podSpecExtra);
    const cap = captureLogger("info");
    records = cap.records;
    r = await run({
      files: [t.dir],
      cwd: ROOT,
      stateDir: join(t.dir, "s"),
      metricsPort: 0,
      view: false,
      logger: cap.logger,
      backoff: { initialMs: 100, maxMs: 400, crashLoopAfter: 3 },
    });
    return r;
  }

  const container = (lr: LocalRun, name: string): LocalContainer =>
    lr.pods[0]!.containers.find((c) => c.spec.name === name)!;
  const hostCalls = (): Record<string, unknown>[] =>
    records.filter((x) => x.container === "host" && x.msg === "called both plugins");
  const kvSocketDir = (lr: LocalRun): string => join(lr.stateDir, "demo-host", "v", "podplug-sockets", "kv");

  async function kvClient(lr: LocalRun): Promise<Client<{ kv: ReturnType<typeof kvPlugin> }>> {
    return new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      attach: { dir: kvSocketDir(lr) },
      logger: pino({ level: "silent" }),
      restart: false,
    });
  }

  it("runs the injected pod: plugin sidecars first (the launcher's copy has nothing to do locally), then the host, which calls both plugins", async () => {
    const lr = await start();
    assert.deepEqual(
      lr.pods[0]!.containers.map((c) => `${c.spec.name}:${c.spec.role}`),
      ["podplug-counter:plugin", "podplug-kv:plugin", "host:host"],
    );
    // The injection's launcher wrapper is undone: the runtime runs the plugin's own command and does the launcher's job.
    assert.deepEqual(container(lr, "podplug-kv").spec.command.slice(1), ["test/fixtures/test-plugin.ts"]);
    assert.equal(container(lr, "podplug-kv").spec.launcher, true);
    await waitFor(() => hostCalls().some((x) => x.kv === "1" || /^\d+$/.test(String(x.kv))), 30_000, "host calls");
    const last = hostCalls().at(-1)!;
    assert.match(String(last.counter), /^\d+$/, "the counter's broker callback into the host works");
    assert.ok(
      existsSync(join(kvSocketDir(lr), "handshake")),
      "the plugin wrote its handshake file in its own sub-folder",
    );
    // Plugin logs come through with the plugin's name bound.
    assert.ok(records.some((x) => x.plugin === "kv" && x.msg === "hello at warn" && x.level === 40));
    const text = await (await fetch(lr.metricsUrl!)).text();
    assert.match(text, /podplug_local_container_up\{pod="demo-host",container="podplug-kv"\} 1/);
  });

  it("a pod with an fsGroup runs as it does in a cluster: the plugins serve and the host calls both", async () => {
    await start("", "\n      securityContext: {fsGroup: 2000}");
    await waitFor(() => hostCalls().some((x) => /^\d+$/.test(String(x.counter))), 30_000, "host calls");
    assert.equal(
      records.filter((x) => x.msg === "container exited; restarting").length,
      0,
      "no plugin died (it used to, of an EPERM chown to the fsGroup it is not in)",
    );
  });

  it("a SIGKILLed plugin is restarted and the host carries on", async () => {
    const lr = await start();
    await waitFor(() => hostCalls().length >= 2, 30_000, "host calls");
    const kv = container(lr, "podplug-kv");
    const first = kv.pid!;
    // The PID the view shows is the plugin itself (no wrapper left), a child of the runtime: what the README kills.
    assert.match(readFileSync(`/proc/${first}/cmdline`, "utf8"), /test-plugin\.ts/);
    assert.equal(Number(readFileSync(`/proc/${first}/stat`, "utf8").split(") ")[1]!.split(" ")[1]), process.pid);
    process.kill(first, "SIGKILL");
    await waitFor(() => kv.restarts === 1 && kv.state === "running", 20_000, "restart");
    const n = hostCalls().length;
    await waitFor(
      () =>
        hostCalls()
          .slice(n)
          .some((x) => /^\d+$/.test(String(x.kv))),
      20_000,
      "host calls succeeding again",
    );
    assert.notEqual(kv.pid, first);
    // LAST EXIT keeps the exit after the restart, in the object and in the live view's row.
    assert.equal(kv.lastExit, "signal SIGKILL");
    const row = renderTable(lr.pods)
      .split("\n")
      .find((l) => l.includes("podplug-kv"))!;
    assert.match(row, /podplug-kv\s+plugin\s+running\s+(yes|no)\s+1\s+\d+\s+\d+s\s+signal SIGKILL$/);
    assert.match(
      await (await fetch(lr.metricsUrl!)).text(),
      /podplug_local_container_restarts_total\{pod="demo-host",container="podplug-kv"\} 1/,
    );
  });

  it("a hung plugin (SIGSTOP) fails its liveness probe (the launcher's exec probe, answered in-process) and is restarted", async () => {
    const lr = await start();
    const kv = container(lr, "podplug-kv");
    await waitFor(() => kv.state === "running" && kv.pid, 20_000, "kv running");
    const first = kv.pid!;
    process.kill(first, "SIGSTOP");
    await waitFor(() => kv.restarts === 1 && kv.state === "running", 40_000, "liveness restart");
    assert.ok(records.some((x) => x.container === "podplug-kv" && x.reason === "liveness probe failed"));
    assert.equal(alive(first), false, "SIGKILL after the grace period");
    assert.equal(kv.lastExit, "liveness probe failed (signal SIGKILL)", "a stopped process ignores SIGTERM");
  });

  it("a plugin reporting NOT_SERVING is restarted through its liveness probe", async () => {
    const lr = await start();
    const kvc = container(lr, "podplug-kv");
    await waitFor(
      () => kvc.state === "running" && existsSync(join(kvSocketDir(lr), "handshake")),
      20_000,
      "kv running",
    );
    const client = await kvClient(lr);
    try {
      const kv = await client.dispense("kv");
      await kv.get("unhealthy");
    } finally {
      await client.kill();
    }
    await waitFor(() => kvc.restarts === 1, 40_000, "liveness restart");
    assert.ok(records.some((x) => x.container === "podplug-kv" && x.reason === "liveness probe failed"));
  });

  it("a crash-looping plugin backs off and is reported as CrashLoopBackOff", async () => {
    const crash = join(t.dir, "crash");
    const lr = await start(`, {name: TEST_CRASH_FILE, value: ${crash}}`);
    const kv = container(lr, "podplug-kv");
    await waitFor(() => hostCalls().length >= 1, 30_000, "host calls");
    writeFileSync(crash, "");
    process.kill(kv.pid!, "SIGKILL");
    await waitFor(() => kv.state === "crash-loop", 30_000, "crash loop");
    await waitFor(
      () =>
        records.filter((x) => x.container === "podplug-kv" && x.msg === "container is in CrashLoopBackOff").length >= 2,
      30_000,
      "two rounds",
    );
    const delays = records
      .filter(
        (x) =>
          x.container === "podplug-kv" &&
          (x.msg === "container is in CrashLoopBackOff" || x.msg === "container exited; restarting"),
      )
      .map((x) => x.restartInMs);
    assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 400], "doubling from 100 ms, capped at 400 ms");
    assert.equal(kv.lastExit, "exit status 2", "in crash-loop, LAST EXIT is the crash's exit status");
    assert.match(renderTable(lr.pods), /podplug-kv\s+plugin\s+crash-loop\s+no\s+\d+\s+-\s+-\s+exit status 2/);
    // The demo host says which call failed, and never "called both plugins" for a failed call.
    await waitFor(
      () => records.some((x) => x.container === "host" && x.msg === "call to kv failed"),
      20_000,
      "a failed kv call",
    );
    const failedCall = records.find((x) => x.container === "host" && x.msg === "call to kv failed")!;
    assert.deepEqual(failedCall.failed, ["kv"]);
    assert.equal(failedCall.level, 40);
    for (const x of hostCalls()) assert.match(String(x.kv), /^\d+$/, JSON.stringify(x));
    assert.match(
      await (await fetch(lr.metricsUrl!)).text(),
      /podplug_local_container_crash_loop\{pod="demo-host",container="podplug-kv"\} 1/,
    );
  });

  it("stop() ends every process and leaves no socket or folder behind", async () => {
    const lr = await start();
    await waitFor(() => hostCalls().length >= 1, 30_000, "host calls");
    const pids = lr.pods[0]!.containers.map((c) => c.pid!);
    assert.ok(pids.every((p) => p && alive(p)));
    await lr.stop();
    r = undefined;
    assert.deepEqual(pids.filter(alive), []);
    for (const name of ["kv", "counter"]) {
      const dir = join(lr.stateDir, "demo-host", "v", "podplug-sockets", name);
      assert.equal(existsSync(join(dir, "plugin.sock")), false, `${name}: socket removed`);
      assert.equal(existsSync(join(dir, "handshake")), false, `${name}: handshake file removed`);
    }
    assert.ok(records.findIndex((x) => x.container === "host" && x.msg === "container started") >= 0);
    const order = records
      .filter((x) => x.msg === "stopping: hosts first, then plugins" || x.msg === "stopped")
      .map((x) => x.msg);
    assert.deepEqual(order, ["stopping: hosts first, then plugins", "stopped"]);
  });

  it("the CLI: Ctrl-C stops the demo gracefully with nothing left running and its temp state folder removed", async () => {
    // The demo's own manifests, with the host's metrics on any free port (9465 may be taken on a shared machine).
    const demo = join(t.dir, "demo");
    mkdirSync(demo);
    for (const f of ["plugins.yaml", "host.yaml"])
      writeFileSync(
        join(demo, f),
        readFileSync(join(ROOT, "examples/demo", f), "utf8").replace('value: "9465"', 'value: "0"'),
      );
    const p = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "run", "-f", demo, "--no-view", "--metrics-port", "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('"msg":"called both plugins"'), 30_000, "demo host calls");
    const pids = [...out.matchAll(/"pid":(\d+),"restarts":0,(?:"uid":\d+,)?"msg":"container started"/g)].map((m) =>
      Number(m[1]),
    );
    assert.equal(pids.length, 3, "two plugins and the host: no agent");
    const stateDir = /"stateDir":"([^"]+)"/.exec(out)![1]!;
    assert.ok(existsSync(stateDir));
    p.kill("SIGINT");
    const code = await new Promise((res) => p.once("close", res));
    assert.equal(code, 0);
    assert.deepEqual(pids.filter(alive), []);
    assert.ok(out.includes('"msg":"stopped"'));
    assert.equal(existsSync(stateDir), false, "the temp state folder is removed");
  });

  it("as root, each plugin runs as its own user; one plugin cannot reach another's socket, the host reaches both", async () => {
    const lr = await start();
    await waitFor(() => hostCalls().length >= 1, 30_000, "host calls");
    if (process.getuid!() !== 0) {
      // Said plainly at start, and in docs/local-runtime.md: without root, no isolation.
      assert.equal(lr.isolation.perPluginUser, false);
      assert.match(lr.isolation.reason!, /not running as root/);
      assert.ok(records.some((x) => x.msg?.toString().startsWith("plugins are not isolated")));
      return;
    }
    assert.equal(lr.isolation.perPluginUser, true);
    const uidOf = (pid: number): number =>
      Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
    const kv = container(lr, "podplug-kv");
    const counter = container(lr, "podplug-counter");
    const [kvUid, counterUid] = [uidOf(kv.pid!), uidOf(counter.pid!)];
    assert.notEqual(kvUid, 0);
    assert.notEqual(counterUid, 0);
    assert.notEqual(kvUid, counterUid);
    assert.equal(uidOf(container(lr, "host").pid!), 0, "the host runs as the runtime's user");
    const dir = statSync(kvSocketDir(lr));
    assert.equal(dir.uid, kvUid);
    assert.equal(dir.mode & 0o7777, 0o2770, "the socket folder is the plugin's alone (and its group's)");
    // From the counter plugin's user: kv's socket folder is closed.
    const probe = spawnSync(
      NODE,
      [
        "-e",
        `require("node:net").connect(process.argv[1]).on("connect", () => { console.log("connected"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(0); });`,
        join(kvSocketDir(lr), "plugin.sock"),
      ],
      { uid: counterUid, gid: counterUid, encoding: "utf8", timeout: 10_000 },
    );
    assert.equal(probe.stdout.trim(), "EACCES", probe.stderr);
    // The host (and the counter's broker callback into it) still work.
    const n = hostCalls().length;
    await waitFor(() => hostCalls().length > n, 10_000, "more host calls");
    assert.match(String(hostCalls().at(-1)!.counter), /^\d+$/);
  });

  it("`podplug reload kv` restarts the kv sidecar of the running pod and waits for it; the host carries on", async () => {
    const lr = await start();
    await waitFor(() => hostCalls().length > 0, 30_000, "host calls");
    const kv = container(lr, "podplug-kv");
    const first = kv.pid;
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "reload", ...args], {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
        p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        p.once("close", (code) => resolve({ code, out, err }));
      });
    const r = await cli("kv", "--state-dir", lr.stateDir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /reloaded kv in 1 pod\(s\)/);
    assert.notEqual(kv.pid, first, "a new kv process");
    assert.equal(kv.restarts, 1);
    assert.equal(container(lr, "podplug-counter").restarts, 0, "only that plugin");
    assert.equal(container(lr, "host").restarts, 0, "the host was not restarted");
    const calls = hostCalls().length;
    await waitFor(() => hostCalls().length > calls, 30_000, "host calls after the reload");
    // Bad input: a plugin the run does not have, and no plugin at all.
    const unknown = await cli("nope", "--state-dir", lr.stateDir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no pod of the run in .* has a plugin "nope" serving .*\[PLUGIN_UNKNOWN\]/);
    const none = await cli("--state-dir", lr.stateDir);
    assert.equal(none.code, 2);
    assert.match(none.err, /name exactly one plugin \[CLI_USAGE\]/);
  });

  it("the CLI refuses bad manifests with the file, the field and a code", async () => {
    writeFileSync(
      join(t.dir, "bad.yaml"),
      "apiVersion: podplug.io/v1alpha1\nkind: Plugin\nmetadata: {name: kv}\nspec: {image: x, bogus: 1}\n",
    );
    const p = spawn(NODE, [join(ROOT, "src/cli/main.ts"), "run", "-f", t.dir, "--no-view"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise((res) => p.once("close", res));
    assert.equal(code, 2);
    assert.match(err, /bad\.yaml: Plugin kv: spec\.\w+: .*\[MANIFEST_INVALID\]/);
  });

  it("refuses to start a pod whose podplug.io/plugin-versions refuses a Plugin's version, before anything runs", async () => {
    manifests(t.dir, ""); // kv declares no spec.version
    const host = join(t.dir, "host.yaml");
    writeFileSync(
      host,
      readFileSync(host, "utf8").replace(
        "    metadata: {labels: {app: demo-host}}",
        '    metadata: {labels: {app: demo-host}, annotations: {podplug.io/plugin-versions: "kv=^1.0.0"}}',
      ),
    );
    await assert.rejects(
      run({
        files: [t.dir],
        cwd: ROOT,
        stateDir: join(t.dir, "s"),
        metricsPort: 0,
        view: false,
        logger: pino({ level: "silent" }),
      }),
      (e: Error & { code?: string }) =>
        e.code === "MANIFEST_INVALID" &&
        /host\.yaml: Deployment demo-host: .*declares no spec\.version/.test(e.message),
    );
    assert.equal(existsSync(join(t.dir, "s", "demo-host")), false, "no pod folder was made: nothing started");
  });
});
