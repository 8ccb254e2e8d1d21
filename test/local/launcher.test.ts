/**
 * The local runtime's stand-in for podplug-launcher (src/local/launcher.ts):
 * what it recognises in an injected template and how it decides, on real
 * files. Running it in a whole local pod is test/local/run.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAUNCHER_BIN } from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { announce, isLauncherCopy, launcherExec, unwrapRun } from "../../src/local/launcher.ts";
import { tempDir } from "../helpers.ts";

const plugin = (name: string, versions: number[]): Plugin => ({
  apiVersion: "podplug.io/v1alpha1",
  kind: "Plugin",
  metadata: { name },
  spec: {
    image: "x:1",
    command: ["/p", "serve"],
    handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: versions },
    selector: {},
  },
});

describe("podplug run's launcher stand-in", () => {
  it("recognises the injection's copy container and undoes its run wrapper, nothing else", () => {
    const out = inject({ spec: { containers: [{ name: "h", image: "h" }] } }, [plugin("kv", [1])]);
    const [copy, kv] = out.spec!.initContainers!;
    assert.equal(isLauncherCopy(copy!), true);
    assert.equal(isLauncherCopy(kv!), false);
    assert.deepEqual(unwrapRun(kv!.command!), ["/p", "serve"]);
    assert.deepEqual(unwrapRun([LAUNCHER_BIN, "run", "/p"]), ["/p"]);
    assert.equal(unwrapRun(["/p", "run", "--", "x"]), undefined);
    assert.equal(unwrapRun([LAUNCHER_BIN, "probe"]), undefined);
  });

  it("announces a handshake line at an allowed version; refuses another version and a line that is no handshake", () => {
    const env = { PLUGIN_PROTOCOL_VERSIONS: "2,3", PODPLUG_PLUGIN_NAME: "kv" };
    const ok = announce("1|3|unix|/s/plugin1|grpc|\n", env);
    assert.ok(ok.ok);
    assert.equal(ok.line, "1|3|unix|/s/plugin1|grpc|");
    const old = announce("1|1|unix|/s/plugin1|grpc|", env);
    assert.ok(!old.ok);
    assert.equal(old.code, "LAUNCHER_PROTOCOL_VERSION");
    assert.match(old.message, /^plugin kv serves protocol version 1; its Plugin allows 2, 3\. /);
    const junk = announce('{"level":"info","msg":"starting"}', env);
    assert.ok(!junk.ok);
    assert.equal(junk.code, "LAUNCHER_BAD_HANDSHAKE");
    // No versions given (a plugin started by hand): any version is announced.
    assert.ok(announce("1|7|unix|/s/p|grpc", {}).ok);
  });

  describe("exec probes", () => {
    let t: ReturnType<typeof tempDir>;
    beforeEach(() => (t = tempDir("ll-")));
    afterEach(() => t.remove());
    const state = (p: string, body: string): void => {
      mkdirSync(join(t.dir, p), { recursive: true });
      writeFileSync(join(t.dir, p, "host-state.json"), body);
    };

    it("ready: passes only when every plugin's host-state.json says ready, else says which and why", async () => {
      const env = { PODPLUG_SOCKET_ROOT: t.dir };
      const ready = [LAUNCHER_BIN, "ready", "kv", "counter"];
      assert.match((await launcherExec(ready, env, 1000))!, /plugin kv: no usable .*host-state\.json \(ENOENT\)/);
      state("kv", JSON.stringify({ version: 1, plugin: "kv", state: "ready", updatedAt: new Date().toISOString() }));
      state("counter", JSON.stringify({ version: 1, plugin: "counter", state: "failing", reason: "EACCES on socket" }));
      assert.equal(await launcherExec(ready, env, 1000), "plugin counter: the host is failing: EACCES on socket");
      state("counter", "{not json");
      assert.match((await launcherExec(ready, env, 1000))!, /plugin counter: no usable/);
      state("counter", JSON.stringify({ version: 1, plugin: "counter", state: "ready" }));
      assert.equal(await launcherExec(ready, env, 1000), undefined);
      assert.match((await launcherExec(ready, {}, 1000))!, /PODPLUG_SOCKET_ROOT is not set/);
    });

    it("probe: fails with the reason when nothing listens; an unknown subcommand fails", async () => {
      mkdirSync(join(t.dir, "kv"));
      const env = { PODPLUG_HANDSHAKE_FILE: join(t.dir, "kv", "handshake") };
      assert.match(
        (await launcherExec([LAUNCHER_BIN, "probe", "-timeout", "300ms"], env, 1000))!,
        /no handshake file and no live plugin\* socket/,
      );
      writeFileSync(join(t.dir, "kv", "handshake"), "garbage\n");
      assert.match((await launcherExec([LAUNCHER_BIN, "probe"], env, 1000))!, /handshake/i);
      assert.match((await launcherExec([LAUNCHER_BIN, "dance"], env, 1000))!, /unknown subcommand "dance"/);
    });
  });
});
