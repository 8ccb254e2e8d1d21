/**
 * Host and plugin in one pod under different uids (issue 19): real processes
 * run by setpriv under other uids, sharing only a group, as containers of a
 * pod with `fsGroup: 2000` do. The test runner is root, so nothing here may
 * connect as root: both sides run as someone else.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fixture, NODE, stopProcess, tempDir, waitFor } from "../helpers.ts";
import { goPeer, goPeersDir } from "../interop/peers.ts";
import { as, FS_GROUP, HOST_UID, PLUGIN_UID, podFolder, run } from "./uids.ts";

/** Runs test/fixtures/attach-host.ts as `uid` with `groups`; resolves its result line. */
async function attachAs(
  uid: number,
  groups: number[],
  dir: string,
  extraEnv: Record<string, string> = {},
): Promise<{ ok?: boolean; value?: string; code?: string; message?: string }> {
  const p = spawn(
    as(uid, groups, [NODE, fixture("attach-host.ts")])[0]!,
    as(uid, groups, [NODE, fixture("attach-host.ts")]).slice(1),
    {
      env: { PATH: process.env.PATH ?? "", HOME: "/tmp", ATTACH_DIR: dir, ATTACH_TIMEOUT_MS: "20000", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise((r) => p.once("close", r));
  const line = out.trim().split("\n").at(-1);
  assert.ok(line, `the host printed no result (exit ${String(code)}); stderr: ${err}`);
  return JSON.parse(line) as { ok?: boolean; value?: string; code?: string; message?: string };
}

function worldWritable(dir: string): string[] {
  return readdirSync(dir).filter((n) => (lstatSync(join(dir, n)).mode & 0o002) !== 0);
}

const tsPluginEnv = (dir: string, extra: Record<string, string> = {}): Record<string, string> => ({
  BASIC_PLUGIN: "hello",
  PLUGIN_PROTOCOL_VERSIONS: "1",
  PLUGIN_UNIX_SOCKET_DIR: dir,
  PODPLUG_HANDSHAKE_FILE: join(dir, "handshake"),
  ...extra,
});

describe("sockets across users (host and plugin under different uids)", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const procs: ChildProcess[] = [];
  beforeEach(() => {
    t = tempDir("px-");
    chmodSync(t.dir, 0o755); // other uids must reach the pod folder inside
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await stopProcess(p);
    t.remove();
  });
  /** Starts the TS test plugin as PLUGIN_UID in group FS_GROUP, serving in `dir`; resolves once its handshake file is there. */
  const startTsPlugin = async (dir: string, extra: Record<string, string> = {}): Promise<void> => {
    procs.push(run(as(PLUGIN_UID, [FS_GROUP], [NODE, fixture("test-plugin.ts")]), tsPluginEnv(dir, extra)));
    await waitFor(() => existsSync(join(dir, "handshake")), 20_000, "the plugin's handshake file");
  };

  it("a TS plugin's socket is 0660 in the folder's group (fsGroup), and a host of another uid in that group connects", async () => {
    const dir = podFolder(t.dir, 0o2770);
    await startTsPlugin(dir);
    const res = await attachAs(HOST_UID, [FS_GROUP], dir);
    assert.deepEqual(res, { ok: true, value: "uid", version: 1 });
    const sock = lstatSync(join(dir, "plugin.sock"));
    assert.equal(sock.uid, PLUGIN_UID);
    assert.equal(sock.gid, FS_GROUP, "the socket takes the folder's group");
    assert.equal(sock.mode & 0o777, 0o660);
    assert.equal(lstatSync(join(dir, "handshake")).gid, FS_GROUP);
    assert.deepEqual(worldWritable(dir), [], "nothing in the folder is world-writable");
  });

  it("a TS plugin that creates its own socket folder makes it setgid 2770", async () => {
    const parent = podFolder(t.dir, 0o2770);
    chownSync(parent, PLUGIN_UID, FS_GROUP);
    const dir = join(parent, "own");
    await startTsPlugin(dir);
    await waitFor(
      () => readdirSync(parent).includes("own") && readdirSync(dir).includes("handshake"),
      20_000,
      "handshake",
    );
    const st = lstatSync(dir);
    assert.equal(st.mode & 0o7777, 0o2770);
    assert.equal(st.gid, FS_GROUP);
    assert.equal(lstatSync(join(dir, "plugin.sock")).gid, FS_GROUP);
  });

  it("PLUGIN_UNIX_SOCKET_GROUP names the group when the folder's is not shared", async () => {
    const dir = podFolder(t.dir, 0o1777, 0); // like /tmp: sticky, root's group
    procs.push(
      run(
        as(PLUGIN_UID, [FS_GROUP], [NODE, fixture("test-plugin.ts")]),
        tsPluginEnv(dir, { PLUGIN_UNIX_SOCKET_GROUP: String(FS_GROUP) }),
      ),
    );
    const res = await attachAs(HOST_UID, [FS_GROUP], dir);
    assert.equal(res.ok, true, JSON.stringify(res));
    const sock = lstatSync(join(dir, "plugin.sock"));
    assert.equal(sock.gid, FS_GROUP);
    assert.equal(sock.mode & 0o777, 0o660);
  });

  it("PLUGIN_UNIX_SOCKET_GROUP naming a group the plugin is not in: serve() rejects with SOCKET_GROUP_DENIED, naming its uid and groups", async () => {
    const dir = podFolder(t.dir, 0o1777, 0);
    const p = run(
      as(PLUGIN_UID, [], [NODE, fixture("test-plugin.ts")]),
      tsPluginEnv(dir, { PLUGIN_UNIX_SOCKET_GROUP: String(FS_GROUP) }),
    );
    procs.push(p);
    let err = "";
    p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => p.once("exit", (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /SOCKET_GROUP_DENIED/);
    // setpriv's --regid makes the uid's own gid its only group.
    assert.match(err, new RegExp(`uid ${PLUGIN_UID}, groups ${PLUGIN_UID}\\) is not a member of gid ${FS_GROUP}`));
  });

  it("a host in no shared group gets SOCKET_PERMISSION at once, naming uids, gids and modes (not SOCKET_NOT_FOUND after the timeout)", async () => {
    const dir = podFolder(t.dir, 0o2775);
    await startTsPlugin(dir);
    const res = await attachAs(HOST_UID, [], dir);
    assert.equal(res.code, "SOCKET_PERMISSION", JSON.stringify(res));
    assert.match(res.message!, new RegExp(`connect to ${join(dir, "plugin.sock")}`));
    assert.match(res.message!, /uid 1000 gid 1000 groups \[1000\]/);
    assert.match(res.message!, new RegExp(`uid ${PLUGIN_UID} gid ${FS_GROUP} mode 0660`));
    assert.match(res.message!, /fsGroup/);
  });

  it("a host that may not enter the folder gets SOCKET_PERMISSION for the handshake file", async () => {
    const dir = podFolder(t.dir, 0o2770);
    await startTsPlugin(dir);
    const res = await attachAs(HOST_UID, [], dir);
    assert.equal(res.code, "SOCKET_PERMISSION", JSON.stringify(res));
    assert.match(res.message!, /permission denied to read .*handshake/);
  });

  describe("an unmodified Go plugin (go-plugin's examples/grpc)", () => {
    let bin: string;
    before(function () {
      this.timeout(15 * 60_000);
      goPeersDir();
    });
    beforeEach(() => {
      // $PODPLUG_CACHE is under root's home: copy the binary where other uids can run it.
      bin = join(t.dir, "grpc-plugin");
      copyFileSync(goPeer("grpc-plugin"), bin);
      chmodSync(bin, 0o755);
    });
    // A bare Go socket has no handshake file: the host is told the version it serves (it never guesses).
    const GO_ATTACH = { ATTACH_PROTOCOL_VERSION: "1" };
    const goEnv = (dir: string, extra: Record<string, string> = {}): Record<string, string> => ({
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      ...extra,
    });
    const workDir = (): string => {
      const w = join(t.dir, "work");
      mkdirSync(w);
      chownSync(w, PLUGIN_UID, PLUGIN_UID); // the example plugin writes kv_<key> files in its cwd
      return w;
    };

    it("with PLUGIN_UNIX_SOCKET_GROUP (what the injection sets from fsGroup) a host of another uid connects", async () => {
      const dir = podFolder(t.dir, 0o2770);
      procs.push(
        run(as(PLUGIN_UID, [FS_GROUP], [bin]), goEnv(dir, { PLUGIN_UNIX_SOCKET_GROUP: String(FS_GROUP) }), workDir()),
      );
      const res = await attachAs(HOST_UID, [FS_GROUP], dir, GO_ATTACH);
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal(res.value, "uid\n\nWritten from plugin-go-grpc");
    });

    it("without it the socket is not group-writable and the host says so at once (SOCKET_PERMISSION)", async () => {
      const dir = podFolder(t.dir, 0o2770);
      procs.push(run(as(PLUGIN_UID, [FS_GROUP], [bin]), goEnv(dir), workDir()));
      await waitFor(() => readdirSync(dir).some((n) => n.startsWith("plugin")), 20_000, "the Go plugin's socket");
      const res = await attachAs(HOST_UID, [FS_GROUP], dir, GO_ATTACH);
      assert.equal(res.code, "SOCKET_PERMISSION", JSON.stringify(res));
      assert.match(res.message!, new RegExp(`connect to ${dir}/plugin\\d+`));
    });
  });
});
