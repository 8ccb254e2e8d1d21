/**
 * Issue 11: many services per plugin and per broker id (chainlink LOOP's
 * pattern) and the host API example (examples/hostapi): a plugin calls the
 * host's cache, database and another plugin — go-plugin's examples/grpc Go
 * plugin among them — through services the host serves under one broker id.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { type HostApi, handshake, notFound, reporterPlugin } from "../../examples/hostapi/shared.ts";
import { kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { goPeer, goPeersDir, ROOT } from "./peers.ts";

const quiet = pino({ level: "silent" });

async function runHost(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [`${ROOT}/examples/hostapi/host.ts`, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  return { code, out, err };
}

const REPORT = [
  "cache motd: hello from the host's cache",
  "db users: u1=ada, u2=grace",
  "plugin kv greeting: hello from the kv plugin",
  "",
].join("\n");

describe("interop: host API through the broker, many services per plugin and per broker id", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  for (const [name, env] of [
    ["hostapi-example: the example host proxies to its TS kv plugin", {}],
    [
      "hostapi-example-go: the example host proxies to go-plugin's examples/grpc Go plugin",
      { KV_PLUGIN: goPeer("grpc-plugin") },
    ],
    ["hostapi-example-mux: the same over one multiplexed connection", { HOSTAPI_MULTIPLEX: "1" }],
  ] as const) {
    it(name, async () => {
      const r = await runHost([], env);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, REPORT, r.err);
    });
  }

  it("hostapi-unknown-plugin: a plugin asking the host for a plugin it does not have gets NOT_FOUND with the host's words", async () => {
    const r = await runHost(["billing"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /plugin billing greeting: error 5: no plugin "billing" in this host \(plugins: kv\)/);
  });

  for (const multiplex of [false, true]) {
    it(`many-services${multiplex ? "-mux" : ""}: three host services under one broker id, two plugin types on one plugin connection`, async () => {
      const calls: string[] = [];
      const host: HostApi = {
        cacheGet: async (key) => {
          calls.push(`cache ${key}`);
          return key === "hit" ? Buffer.from("cached") : undefined;
        },
        query: async (table) => {
          calls.push(`query ${table}`);
          if (table !== "t") throw notFound(`no table ${table}`);
          return [{ key: "a", value: "1" }];
        },
        pluginGet: async (plugin, key) => {
          calls.push(`plugin ${plugin} ${key}`);
          return Buffer.from("other");
        },
      };
      const client = new Client({
        handshake,
        plugins: { reporter: reporterPlugin(), kv: kvPlugin() },
        cmd: { command: process.execPath, args: [`${ROOT}/examples/hostapi/plugin.ts`] },
        multiplex,
        logger: quiet,
      });
      try {
        const reporter = await client.dispense("reporter");
        const kv = await client.dispense("kv");
        const pid = client.pid;
        // Reports in flight at once: each gets its own broker id with all three services.
        const texts = await Promise.all(
          [0, 1, 2].map((i) =>
            reporter.report({ cacheKey: i === 0 ? "hit" : "miss", table: "t", plugin: "p", pluginKey: `k${i}` }, host),
          ),
        );
        assert.equal(texts[0], "cache hit: cached\ndb t: a=1\nplugin p k0: other");
        assert.equal(texts[2], "cache miss: (missing)\ndb t: a=1\nplugin p k2: other");
        assert.equal(calls.length, 9);
        await kv.put("x", Buffer.from("y"));
        assert.equal((await kv.get("x")).toString(), "y");
        assert.equal(client.pid, pid, "one plugin process serves both plugin types");
        // A host service that refuses fails the report with its status, and the next report works.
        await assert.rejects(
          reporter.report({ cacheKey: "hit", table: "missing", plugin: "p", pluginKey: "k" }, host),
          (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && /no table missing/.test(err.details),
        );
        assert.match(
          await reporter.report({ cacheKey: "hit", table: "t", plugin: "p", pluginKey: "k" }, host),
          /cached/,
        );
      } finally {
        await client.kill();
      }
    });
  }
});
