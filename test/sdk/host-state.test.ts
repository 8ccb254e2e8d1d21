/**
 * "Ready means the host can use the plugin" (issue 19), on real processes:
 * a host (test/fixtures/state-host.ts) and a plugin under other uids, as in a
 * pod with `fsGroup: 2000`; the host writes host-state.json and
 * `podplug-launcher ready kv` (the host container's readiness probe) answers
 * from it. Three cases: a good pair → ready; a host that cannot connect →
 * not ready, SOCKET_PERMISSION; a plugin whose every call fails → not ready,
 * CALLS_FAILING. Then the probe's own hostile input.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, NODE, stopProcess, tempDir, waitFor } from "../helpers.ts";
import { goPeer, goPeersDir } from "../interop/peers.ts";
import { launcherPath } from "../launcher/launcher.ts";
import { as, FS_GROUP, HOST_UID, PLUGIN_UID, podFolder, run } from "./uids.ts";

interface StateRecord {
  version: number;
  plugin: string;
  state: string;
  code?: string;
  reason?: string;
  updatedAt: string;
}

interface Host {
  p: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

describe("host state file and `podplug-launcher ready` (Ready means the host can use the plugin)", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let launcher: string;
  const procs: ChildProcess[] = [];

  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
    launcher = launcherPath();
  });
  beforeEach(() => {
    t = tempDir("hs-");
    chmodSync(t.dir, 0o755);
    // $PODPLUG_CACHE is under root's home: copy the launcher where other uids can run it.
    const bin = join(t.dir, "podplug-launcher");
    copyFileSync(launcher, bin);
    chmodSync(bin, 0o755);
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await stopProcess(p);
    t.remove();
  });

  const stateOf = (dir: string): StateRecord | undefined => {
    const f = join(dir, "host-state.json");
    return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as StateRecord) : undefined;
  };

  /** The readiness probe as the kubelet runs it in the host container: as the host's uid and groups. */
  const ready = (uid: number, groups: number[], ...plugins: string[]): { status: number | null; stderr: string } => {
    const argv = as(uid, groups, [join(t.dir, "podplug-launcher"), "ready", ...plugins]);
    const r = spawnSync(argv[0]!, argv.slice(1), {
      env: { PATH: process.env.PATH ?? "", PODPLUG_SOCKET_ROOT: t.dir },
      encoding: "utf8",
      timeout: 10_000,
    });
    return { status: r.status, stderr: r.stderr };
  };

  const startHost = (uid: number, groups: number[], env: Record<string, string> = {}): Host => {
    const argv = as(uid, groups, [NODE, fixture("state-host.ts")]);
    const p = spawn(argv[0]!, argv.slice(1), {
      env: { PATH: process.env.PATH ?? "", HOME: "/tmp", STATE_ROOT: t.dir, STATE_PLUGIN: "kv", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    procs.push(p);
    return { p, stderr: () => err, exit: new Promise((r) => p.once("close", (code) => r(code))) };
  };

  const startTsPlugin = (dir: string): ChildProcess => {
    const p = run(as(PLUGIN_UID, [FS_GROUP], [NODE, fixture("test-plugin.ts")]), {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      PODPLUG_HANDSHAKE_FILE: join(dir, "handshake"),
    });
    procs.push(p);
    return p;
  };

  /** go-plugin's examples/grpc kv plugin as PLUGIN_UID, writing its kv_<key> files in `cwd`. */
  const startGoPlugin = (dir: string, cwd: string, socketGroup: boolean): ChildProcess => {
    const bin = join(t.dir, "grpc-plugin");
    if (!existsSync(bin)) {
      copyFileSync(goPeer("grpc-plugin"), bin);
      chmodSync(bin, 0o755);
    }
    const p = run(
      as(PLUGIN_UID, [FS_GROUP], [bin]),
      {
        BASIC_PLUGIN: "hello",
        PLUGIN_PROTOCOL_VERSIONS: "1",
        PLUGIN_UNIX_SOCKET_DIR: dir,
        ...(socketGroup ? { PLUGIN_UNIX_SOCKET_GROUP: String(FS_GROUP) } : {}),
      },
      cwd,
    );
    procs.push(p);
    return p;
  };

  const waitState = (dir: string, state: string, host?: Host): Promise<StateRecord> =>
    waitFor(
      () => {
        const s = stateOf(dir);
        return s?.state === state ? s : undefined;
      },
      30_000,
      `host-state.json to say ${state} (it says ${JSON.stringify(stateOf(dir))}; host stderr: ${host?.stderr().slice(-2000)})`,
    );

  it("good: a host of another uid in the pod's group attaches: ready; the plugin dies: not ready, then ready again; the host exits: the file is gone", async () => {
    const dir = podFolder(t.dir, 0o2770);
    const plugin = startTsPlugin(dir);
    const host = startHost(HOST_UID, [FS_GROUP]);
    const s = await waitState(dir, "ready", host);
    assert.equal(s.version, 1);
    assert.equal(s.plugin, "kv");
    assert.equal(s.code, undefined);
    assert.ok(!Number.isNaN(Date.parse(s.updatedAt)), s.updatedAt);
    assert.deepEqual(ready(HOST_UID, [FS_GROUP], "kv"), { status: 0, stderr: "" });

    plugin.kill("SIGKILL");
    const down = await waitFor(
      () => {
        const x = stateOf(dir);
        return x && x.state !== "ready" ? x : undefined;
      },
      20_000,
      "the host to notice the plugin is gone",
    );
    assert.match(down.state, /^(connecting|failing)$/);
    const r = ready(HOST_UID, [FS_GROUP], "kv");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^podplug-launcher: plugin kv: the host is (connecting|failing)/);
    assert.match(r.stderr, /\[LAUNCHER_NOT_READY\]$/m);

    startTsPlugin(dir);
    await waitState(dir, "ready", host);
    assert.equal(ready(HOST_UID, [FS_GROUP], "kv").status, 0);

    host.p.kill("SIGTERM");
    assert.equal(await host.exit, 0, host.stderr());
    assert.equal(existsSync(join(dir, "host-state.json")), false, "removed on exit");
    const gone = ready(HOST_UID, [FS_GROUP], "kv");
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no .*host-state\.json: the host has not attached to it yet, or has exited/);
  });

  it("cannot connect: an unmodified Go plugin's socket is 0755 (no PLUGIN_UNIX_SOCKET_GROUP): failing, SOCKET_PERMISSION, and the probe says so", async () => {
    const dir = podFolder(t.dir, 0o2770);
    const work = join(t.dir, "work");
    mkdirSync(work);
    chownSync(work, PLUGIN_UID, PLUGIN_UID);
    startGoPlugin(dir, work, false);
    const host = startHost(HOST_UID, [FS_GROUP], { ATTACH_PROTOCOL_VERSION: "1" });
    const s = await waitState(dir, "failing", host);
    assert.equal(s.code, "SOCKET_PERMISSION", JSON.stringify(s));
    assert.match(s.reason!, /uid 1000 gid 1000/);
    const r = ready(HOST_UID, [FS_GROUP], "kv");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /plugin kv: the host is failing \(SOCKET_PERMISSION\): .*connect to .*plugin\d+/);
    // The host itself is still up (it serves without the plugin): its state stays what it was.
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(host.p.exitCode, null);
    assert.equal(stateOf(dir)?.code, "SOCKET_PERMISSION");
  });

  it("cannot connect: a host in no shared group may not enter the folder (it cannot write its state either): the probe says SOCKET_PERMISSION with the ids and modes", async () => {
    const dir = podFolder(t.dir, 0o2770);
    startTsPlugin(dir);
    await waitFor(() => existsSync(join(dir, "handshake")), 20_000, "the plugin's handshake file");
    const host = startHost(HOST_UID, []);
    await waitFor(() => host.stderr().includes("SOCKET_PERMISSION"), 20_000, "the host's SOCKET_PERMISSION log");
    const r = ready(HOST_UID, [], "kv");
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `plugin kv: the host cannot enter and write ${dir} \\(SOCKET_PERMISSION\\): it is uid 0 gid ${FS_GROUP} mode 2770; this container runs as uid 1000 gid 1000 groups \\[\\]`,
      ),
    );
  });

  it("every call fails: go-plugin's kv in a folder it may not write: failing, CALLS_FAILING with the plugin's error; a call that succeeds again: ready", async () => {
    const dir = podFolder(t.dir, 0o2770);
    const work = join(t.dir, "work");
    mkdirSync(work);
    chmodSync(work, 0o755); // root's: the plugin (65532) cannot create kv_<key> in it
    startGoPlugin(dir, work, true);
    const host = startHost(HOST_UID, [FS_GROUP], { ATTACH_PROTOCOL_VERSION: "1" });
    const s = await waitState(dir, "failing", host);
    assert.equal(s.code, "CALLS_FAILING", JSON.stringify(s));
    assert.match(s.reason!, /the last 3 calls to plugin kv failed; the last: UNKNOWN: .*kv_state: permission denied/);
    const r = ready(HOST_UID, [FS_GROUP], "kv");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the host is failing \(CALLS_FAILING\): the last \d+ calls/);
    // The plugin can write again: the next call succeeds and the host is ready.
    chownSync(work, PLUGIN_UID, PLUGIN_UID);
    await waitState(dir, "ready", host);
    assert.equal(ready(HOST_UID, [FS_GROUP], "kv").status, 0);
  });

  describe("`podplug-launcher ready` on bad input", () => {
    const write = (name: string, content: string): void => {
      mkdirSync(join(t.dir, name), { recursive: true });
      writeFileSync(join(t.dir, name, "host-state.json"), content);
    };
    const good = (plugin: string, extra: Record<string, unknown> = {}): string =>
      JSON.stringify({ version: 1, plugin, state: "ready", updatedAt: new Date().toISOString(), ...extra });

    it("exits 0 only when every named plugin is ready, naming each one that is not", () => {
      write("kv", good("kv"));
      write("counter", good("counter", { state: "connecting" }));
      assert.equal(ready(0, [], "kv").status, 0);
      const r = ready(0, [], "kv", "counter", "absent");
      assert.equal(r.status, 1);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 2, r.stderr);
      assert.match(
        lines[0]!,
        /^podplug-launcher: plugin counter: the host is connecting \[since .*\] \[LAUNCHER_NOT_READY\]$/,
      );
      assert.match(
        lines[1]!,
        /^podplug-launcher: plugin absent: no folder .*absent: the plugin.s socket folder is missing/,
      );
    });

    it("refuses hostile files: not JSON, another version, another plugin's, an unknown state, too large; a multi-line reason is one line", () => {
      const cases: [string, RegExp][] = [
        ["{not json", /is not a host state file/],
        [good("kv", { version: 2 }), /has version 2; this launcher reads version 1/],
        [good("other"), /is for plugin "other", not "kv"/],
        [good("kv", { state: "READY" }), /has an unknown state "READY"/],
        [`${" ".repeat(70_000)}${good("kv")}`, /is larger than 65536 bytes/],
        ["null", /has version 0/],
      ];
      for (const [content, want] of cases) {
        write("kv", content);
        const r = ready(0, [], "kv");
        assert.equal(r.status, 1, content.slice(0, 80));
        assert.match(r.stderr, want);
      }
      write("kv", good("kv", { state: "failing", code: "X", reason: "line one\nline two\r\n\tthree" }));
      const r = ready(0, [], "kv");
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.match(r.stderr, /failing \(X\): line one line two three/);
    });

    it("refuses names that are not plugin names (no paths) and no names, with usage status 2", () => {
      for (const args of [[], ["../etc"], ["kv/x"], ["KV"], [""]]) {
        const r = ready(0, [], ...args);
        assert.equal(r.status, 2, JSON.stringify(args));
        assert.match(r.stderr, /\[LAUNCHER_USAGE\]/);
      }
    });
  });
});
