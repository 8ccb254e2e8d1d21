/**
 * What a Plugin tells its hosts, through the injection's PODPLUG_PLUGIN_INFO
 * read by sidecarAttach(), applied by a client attached to a real plugin
 * process in sidecar mode: `spec.calls` (issue 12: "a per-Plugin default call
 * deadline and failure policy, set in the Plugin spec, reach the host SDK
 * through the injected env") and `spec.version` against the host's
 * `versionRange` (issue 13: refused before any traffic). Then what a
 * hand-made or broken value does.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { handshake } from "../../examples/kv/shared.ts";
import { HOST_ENV } from "../../src/constants.ts";
import { KVClient } from "../../src/gen/examples/kv/kv.ts";
import { Client, sidecarAttach } from "../../src/host/index.ts";
import { pluginInfoFor } from "../../src/host/plugin-info.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import type { GRPCPlugin } from "../../src/plugin/index.ts";
import { fixture, NODE, stopProcess, tempDir, waitFor } from "../helpers.ts";
import { run } from "./uids.ts";

/** The kv client with a deadline of the call's own (0: none), as a host's code would call it. */
interface TimedKV {
  get(key: string, deadlineMs?: number): Promise<string>;
}
const timedKv = (): GRPCPlugin<TimedKV> => ({
  grpcServer: () => {
    throw new Error("host side only");
  },
  grpcClient: (_broker, conn) => {
    const c = conn.client(KVClient);
    return {
      get: (key, deadlineMs) =>
        new Promise((res, rej) =>
          c.get({ key }, new grpc.Metadata(), deadlineMs ? { deadline: Date.now() + deadlineMs } : {}, (err, r) =>
            err ? rej(err) : res(r.value.toString()),
          ),
        ),
    };
  },
});

function plugin(calls?: Plugin["spec"]["calls"], version?: string): Plugin {
  return {
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name: "kv" },
    spec: {
      image: "example/kv:1",
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1] },
      selector: { matchLabels: { app: "h" } },
      ...(calls ? { calls } : {}),
      ...(version ? { version } : {}),
    },
  };
}

/** The host container's env as the injection leaves it, with the socket root moved to `root`. */
function injectedEnv(root: string, calls?: Plugin["spec"]["calls"], version?: string): NodeJS.ProcessEnv {
  const out = inject({ spec: { containers: [{ name: "host", image: "h" }] } }, [plugin(calls, version)]);
  const env: NodeJS.ProcessEnv = {};
  for (const e of out.spec!.containers[0]!.env ?? []) env[e.name] = e.value;
  return { ...env, [HOST_ENV.socketRoot]: root };
}

describe("a Plugin's spec.calls and spec.version in the host SDK (PODPLUG_PLUGIN_INFO)", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let proc: ChildProcess | undefined;
  let client: Client<{ kv: GRPCPlugin<TimedKV> }> | undefined;
  beforeEach(() => (t = tempDir("cp-")));
  afterEach(async () => {
    await client?.kill();
    client = undefined;
    if (proc) await stopProcess(proc);
    proc = undefined;
    t.remove();
  });

  /** The TS test plugin serving in sidecar mode in `<root>/kv`. */
  async function startPlugin(): Promise<void> {
    const dir = join(t.dir, "kv");
    proc = run([NODE, fixture("test-plugin.ts")], {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      PODPLUG_HANDSHAKE_FILE: join(dir, "handshake"),
    });
    await waitFor(() => existsSync(join(dir, "handshake")), 20_000, "the plugin's handshake file");
  }

  const connect = (env: NodeJS.ProcessEnv, extra: { defaultDeadlineMs?: number; versionRange?: string } = {}) => {
    client = new Client({
      handshake,
      plugins: { kv: timedKv() },
      attach: sidecarAttach("kv", env),
      logger: pino({ level: "silent" }),
      ...extra,
    });
    return client.dispense("kv");
  };

  it("the injection sets it only for Plugins with spec.calls or spec.version, in the SDK's terms", () => {
    assert.equal(injectedEnv(t.dir)[HOST_ENV.pluginInfo], undefined);
    assert.deepEqual(
      JSON.parse(injectedEnv(t.dir, { deadlineMilliseconds: 250, whenUnavailable: "Wait" })[HOST_ENV.pluginInfo]!),
      {
        kv: { calls: { deadlineMs: 250, whenUnavailable: "wait" } },
      },
    );
    assert.deepEqual(JSON.parse(injectedEnv(t.dir, undefined, "1.4.2")[HOST_ENV.pluginInfo]!), {
      kv: { version: "1.4.2" },
    });
  });

  it("versionRange: a Plugin version inside it connects and calls", async () => {
    await startPlugin();
    const kv = await connect(injectedEnv(t.dir, undefined, "1.4.2"), { versionRange: "^1.2.0" });
    assert.equal(await kv.get("sleep:0"), "slept");
  });

  it("versionRange: outside it PLUGIN_VERSION_MISMATCH, with none declared PLUGIN_VERSION_UNKNOWN, when the client is made (no traffic)", () => {
    // No plugin is even running: the refusal cannot have come from a connection.
    const make = (env: NodeJS.ProcessEnv, range: string) => () =>
      new Client({
        handshake,
        plugins: { kv: timedKv() },
        attach: sidecarAttach("kv", env),
        logger: pino({ level: "silent" }),
        versionRange: range,
      });
    assert.throws(make(injectedEnv(t.dir, undefined, "2.0.0"), "^1.2.0"), (e: Error & { code?: string }) => {
      return (
        e.code === "PLUGIN_VERSION_MISMATCH" && /kv is version 2\.0\.0, outside the range \^1\.2\.0/.test(e.message)
      );
    });
    assert.throws(make(injectedEnv(t.dir, undefined, "1.3.0-rc.1"), ">=1.2.0"), { code: "PLUGIN_VERSION_MISMATCH" });
    assert.throws(make(injectedEnv(t.dir), "^1.2.0"), (e: Error & { code?: string }) => {
      return e.code === "PLUGIN_VERSION_UNKNOWN" && /declares no version/.test(e.message);
    });
    assert.throws(make(injectedEnv(t.dir, undefined, "1.4.2"), "one point two"), (e: Error & { code?: string }) => {
      return e.code === "CONFIG_INVALID" && /not a semver range/.test(e.message);
    });
    assert.throws(
      () =>
        new Client({
          handshake,
          plugins: { kv: timedKv() },
          cmd: { command: NODE, args: [fixture("test-plugin.ts")] },
          versionRange: "^1",
        }),
      (e: Error & { code?: string }) => e.code === "CONFIG_INVALID" && /needs attach mode/.test(e.message),
    );
  });

  it("deadlineMilliseconds: a call made without a deadline ends DEADLINE_EXCEEDED; one with its own deadline keeps it", async () => {
    await startPlugin();
    const kv = await connect(injectedEnv(t.dir, { deadlineMilliseconds: 300 }));
    assert.equal(await kv.get("sleep:0"), "slept");
    await assert.rejects(kv.get("sleep:3000"), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
    assert.equal(await kv.get("sleep:800", 5000), "slept", "a deadline of the call's own wins over the Plugin's");
  });

  it("without spec.calls a slow call is left alone (the same plugin, no default deadline)", async () => {
    await startPlugin();
    const kv = await connect(injectedEnv(t.dir));
    assert.equal(await kv.get("sleep:800"), "slept");
  });

  it("the host's own defaultDeadlineMs wins over the Plugin's", async () => {
    await startPlugin();
    const kv = await connect(injectedEnv(t.dir, { deadlineMilliseconds: 100 }), { defaultDeadlineMs: 5000 });
    assert.equal(await kv.get("sleep:800"), "slept");
  });

  it("whenUnavailable: Wait makes calls during an outage wait for the plugin; FailFast (the default) fails them UNAVAILABLE", async () => {
    for (const [mode, expect] of [
      ["Wait", "waits"],
      ["FailFast", "fails"],
    ] as const) {
      await startPlugin();
      const kv = await connect(injectedEnv(t.dir, { whenUnavailable: mode }));
      assert.equal(await kv.get("sleep:0"), "slept");
      await stopProcess(proc!);
      await waitFor(() => client!.state !== "ready", 10_000, "the client to see the plugin gone");
      const during = kv.get("sleep:0").then(
        (v) => v,
        (e: grpc.ServiceError) => `code ${e.code}`,
      );
      if (expect === "waits") {
        await startPlugin(); // the plugin comes back (as the kubelet would restart it)
        assert.equal(await during, "slept", "the call waited for the new process");
      } else {
        assert.equal(await during, `code ${grpc.status.UNAVAILABLE}`);
      }
      await client!.kill();
      client = undefined;
      if (proc) await stopProcess(proc);
      proc = undefined;
    }
  });

  it("refuses a hand-made or broken value with CONFIG_INVALID naming what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["{", /not JSON/],
      ["[1]", /not a JSON object/],
      ['{"kv":3}', /kv's entry is not an object/],
      ['{"kv":{"calls":{"deadlineMs":0}}}', /deadlineMs 0 is not a whole number/],
      ['{"kv":{"calls":{"deadlineMs":1.5}}}', /deadlineMs 1.5/],
      ['{"kv":{"calls":{"deadlineMs":"250"}}}', /deadlineMs "250"/],
      ['{"kv":{"calls":{"whenUnavailable":"Wait"}}}', /whenUnavailable "Wait" is neither/],
      ['{"kv":{"calls":{"deadline":250}}}', /calls has unknown fields deadline/],
      ['{"kv":{"calls":[]}}', /calls is not an object/],
      ['{"kv":{"version":"1.2"}}', /version "1.2" is not a semantic version/],
      ['{"kv":{"version":12}}', /version 12 is not/],
      ['{"kv":{"deadlineMs":250}}', /entry has unknown fields deadlineMs/],
    ];
    for (const [raw, msg] of cases)
      assert.throws(
        () => pluginInfoFor(raw, "kv"),
        (e: Error & { code?: string }) => e.code === "CONFIG_INVALID" && msg.test(e.message),
        raw,
      );
    assert.equal(pluginInfoFor('{"other":{"version":"1.0.0"}}', "kv"), undefined, "another plugin's entry is not ours");
    assert.throws(() => sidecarAttach("kv", { [HOST_ENV.socketRoot]: t.dir, [HOST_ENV.pluginInfo]: "{" }), {
      code: "CONFIG_INVALID",
    });
  });
});
