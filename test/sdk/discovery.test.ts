/**
 * Discovery (issue 13): a host lists the plugins of its socket root, learns
 * when one starts serving or goes, and fails fast on required plugins that
 * are missing or invalid. Real plugin processes (the TS test plugin and
 * go-plugin's Go plugin) serving in sidecar mode in a pod-like folder.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST_ENV } from "../../src/constants.ts";
import { discoverPlugins, type PluginChange, requirePlugins, watchPlugins } from "../../src/host/index.ts";
import { fixture, NODE, stopProcess, tempDir, waitFor } from "../helpers.ts";
import { goPeer, goPeersDir } from "../interop/peers.ts";
import { run } from "./uids.ts";

describe("plugin discovery and required plugins", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const procs: ChildProcess[] = [];
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => (t = tempDir("disc-")));
  afterEach(async () => {
    for (const p of procs.splice(0)) await stopProcess(p);
    t.remove();
  });

  /** The TS test plugin in sidecar mode in `<root>/<name>`; resolves once its handshake file is there. */
  async function tsPlugin(name: string): Promise<ChildProcess> {
    const dir = join(t.dir, name);
    const p = run([NODE, fixture("test-plugin.ts")], {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      PODPLUG_HANDSHAKE_FILE: join(dir, "handshake"),
    });
    procs.push(p);
    await waitFor(() => existsSync(join(dir, "handshake")), 20_000, `${name}'s handshake file`);
    return p;
  }
  /** go-plugin's Go plugin serving in `<root>/<name>` with no handshake file (only its socket). */
  async function goPlugin(name: string): Promise<void> {
    const dir = join(t.dir, name);
    mkdirSync(dir);
    procs.push(
      run([goPeer("goplugin")], { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1", PLUGIN_UNIX_SOCKET_DIR: dir }),
    );
    await waitFor(() => readdirSync(dir).some((n) => n.startsWith("plugin")), 20_000, `${name}'s socket`);
  }

  it("lists each folder with what serves there: a TS plugin, a Go plugin, an empty folder, an invalid handshake", async () => {
    await tsPlugin("kv");
    await goPlugin("gokv");
    mkdirSync(join(t.dir, "later"));
    mkdirSync(join(t.dir, "broken"));
    writeFileSync(join(t.dir, "broken", "handshake"), "not a handshake\n");
    const found = await discoverPlugins(undefined, { [HOST_ENV.socketRoot]: t.dir });
    assert.deepEqual(
      found.map((p) => [p.name, p.presence]),
      [
        ["broken", "invalid"],
        ["gokv", "serving"],
        ["kv", "serving"],
        ["later", "absent"],
      ],
    );
    assert.match(found[0]!.reason!, /HANDSHAKE|handshake/);
  });

  it("watchPlugins reports a plugin that starts serving, and one that goes, as each happens", async () => {
    const changes: PluginChange[] = [];
    const w = watchPlugins(t.dir, (c) => changes.push(c), { rescanMs: 200 });
    try {
      const kv = await tsPlugin("kv");
      await waitFor(() => changes.some((c) => c.name === "kv" && c.presence === "serving"), 20_000, "kv serving");
      await stopProcess(kv);
      await waitFor(() => changes.some((c) => c.name === "kv" && c.presence === "absent"), 20_000, "kv gone");
      const kvChanges = changes.filter((c) => c.name === "kv").map((c) => c.presence);
      assert.deepEqual(
        kvChanges.slice(kvChanges.indexOf("serving")),
        ["serving", "absent"],
        "each change once, in order",
      );
    } finally {
      w.close();
    }
  });

  it("requirePlugins passes when every required plugin serves", async () => {
    await tsPlugin("kv");
    await requirePlugins(["kv"], { env: { [HOST_ENV.socketRoot]: t.dir, [HOST_ENV.plugins]: "kv" } });
  });

  it("requirePlugins fails at once, naming each, for a plugin the pod was not given and an invalid one", async () => {
    mkdirSync(join(t.dir, "broken"));
    writeFileSync(join(t.dir, "broken", "handshake"), "1|1|unix\n");
    await assert.rejects(
      requirePlugins(["kv", "broken"], {
        env: { [HOST_ENV.socketRoot]: t.dir, [HOST_ENV.plugins]: "broken" },
        // Far beyond the test's own timeout: only failing at once, without the wait, lets it pass.
        timeoutMs: 600_000,
      }),
      (e: Error & { code?: string }) =>
        e.code === "PLUGIN_REQUIRED_MISSING" &&
        /kv: not injected into this pod \(PODPLUG_PLUGINS=broken\)/.test(e.message) &&
        /broken: /.test(e.message),
    );
  });

  it("requirePlugins waits for a plugin that is starting, and fails naming one that never serves", async () => {
    const env = { [HOST_ENV.socketRoot]: t.dir, [HOST_ENV.plugins]: "kv,never" };
    mkdirSync(join(t.dir, "never"));
    const starting = tsPlugin("kv");
    await requirePlugins(["kv"], { env, timeoutMs: 30_000 });
    await starting;
    await assert.rejects(requirePlugins(["kv", "never"], { env, timeoutMs: 300 }), (e: Error & { code?: string }) => {
      return e.code === "PLUGIN_REQUIRED_MISSING" && /never: not serving in/.test(e.message) && !/kv:/.test(e.message);
    });
  });

  it("outside an injected pod both say NOT_INJECTED", async () => {
    await assert.rejects(discoverPlugins(undefined, {}), { code: "NOT_INJECTED" });
    await assert.rejects(requirePlugins(["kv"], { env: {} }), { code: "NOT_INJECTED" });
  });
});
