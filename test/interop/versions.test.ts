/**
 * Issue 4, case 7: version negotiation across languages — overlapping,
 * disjoint and malformed PLUGIN_PROTOCOL_VERSIONS, and a wrong magic cookie —
 * each with the message a user sees.
 */
import assert from "node:assert/strict";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { waitFor } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, ROOT, runPeer, startPlugin } from "./peers.ts";

const tsPlugin = (versions: string) => nodeCommand("test/interop/fixtures/log-plugin.ts", versions);
const quiet = pino({ level: "silent" });

function tsClient(versions: number[], goArgs: string[], cookie = "hello") {
  return new Client({
    handshake: { ...handshake, protocolVersion: versions[0]!, magicCookieValue: cookie },
    versionedPlugins: Object.fromEntries(versions.map((v) => [v, { kv: kvPlugin() }])),
    cmd: { command: goPeer("goplugin"), args: goArgs },
    logger: quiet,
  });
}

describe("interop: version negotiation and the magic cookie (case 7)", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  describe("Go host → TS plugin", () => {
    it("overlapping versions: the highest common one wins", async () => {
      for (const [host, plugin, want] of [
        ["2,3", "1,3", 3],
        ["1,2,3", "1,2", 2],
        ["1", "1,2", 1],
      ] as const) {
        const r = await runPeer("gohost", ["-versions", host, "-cmd", tsPlugin(plugin), "ping"]);
        assert.equal(r.code, 0, explain(r));
        assert.equal(eventsOf(r, "started")[0]?.version, want, `host ${host}, plugin ${plugin}`);
      }
    });

    it("disjoint versions: go-plugin's incompatible-version error", async () => {
      const r = await runPeer("gohost", ["-versions", "2", "-cmd", tsPlugin("1"), "ping"]);
      assert.equal(r.code, 1);
      // The Go host's own words: go-plugin 1.6 capitalises them, 1.8 does not (make interop-oldest runs 1.6).
      assert.match(
        String(eventsOf(r, "error")[0]?.error),
        /^[Ii]ncompatible API version with plugin\. Plugin version: 1, Client versions: \[2\]$/,
      );
    });

    it("wrong cookie: the TS plugin refuses with go-plugin's text, and the Go host reports no handshake", async () => {
      const r = await runPeer("gohost", ["-cookie", "BASIC_PLUGIN=nope", "-cmd", tsPlugin("1"), "ping"]);
      assert.equal(r.code, 1);
      assert.match(
        String(eventsOf(r, "error")[0]?.error),
        /^Unrecognized remote plugin message: \nFailed to read any lines from plugin's stdout/,
      );
      const said = r.logs.map((l) => l["@message"]);
      assert.ok(said.includes("This binary is a plugin. These are not meant to be executed directly."), explain(r));
      assert.ok(said.includes("Please execute the program that consumes these plugins, which will"));
    });
  });

  describe("TS host → Go plugin", () => {
    it("overlapping versions: the highest common one wins", async () => {
      for (const [host, plugin, want] of [
        [[2, 3], "1,3", 3],
        [[1, 2, 3], "1,2", 2],
      ] as const) {
        const client = tsClient([...host], ["-versions", plugin]);
        try {
          assert.equal((await client.start()).version, want);
          await (await client.dispense("kv")).put("k", Buffer.from("v"));
        } finally {
          await client.kill();
        }
      }
    });

    it("disjoint versions: HANDSHAKE_APP_VERSION naming both sides' versions", async () => {
      const client = tsClient([2], ["-versions", "1"]);
      try {
        await assert.rejects(client.start(), (err: unknown) => {
          assert.ok(isPodplugError(err, "HANDSHAKE_APP_VERSION"), String(err));
          assert.match(err.message, /\b1\b/);
          assert.match(err.message, /\b2\b/);
          return true;
        });
      } finally {
        await client.kill();
      }
    });

    it("wrong cookie: the Go plugin's refusal text reaches the TS host's error", async () => {
      const client = tsClient([1], [], "nope");
      try {
        await assert.rejects(client.start(), /This binary is a plugin\. These are not meant to be executed directly\./);
      } finally {
        await client.kill();
      }
    });
  });

  describe("malformed PLUGIN_PROTOCOL_VERSIONS: both plugins skip bad entries alike", () => {
    const plugins = {
      go: () => [goPeer("goplugin"), ["-versions", "1,3"]] as const,
      ts: () => [process.execPath, [`${ROOT}/test/interop/fixtures/log-plugin.ts`, "1,3"]] as const,
    };
    for (const lang of ["go", "ts"] as const) {
      for (const [env, want, warns] of [
        ["x,3", 3, true],
        ["abc", 1, true],
        ["", 1, false],
        ["7", 1, false],
      ] as const) {
        it(`${lang} plugin, PLUGIN_PROTOCOL_VERSIONS=${JSON.stringify(env)} → version ${want}${warns ? ", with a warning" : ""}`, async () => {
          const [cmd, args] = plugins[lang]();
          const p = startPlugin(cmd, [...args], { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: env });
          try {
            const line = await p.line;
            assert.match(line, new RegExp(`^1\\|${want}\\|unix\\|[^|]+\\|grpc\\|$`));
            if (warns) {
              const bad = env.split(",")[0]!;
              await waitFor(() => p.stderr().includes(bad), 5000, "the warning");
              assert.match(
                p.stderr(),
                lang === "go" ? new RegExp(`server sent invalid plugin version "${bad}"`) : /invalid plugin version/,
              );
            }
          } finally {
            await p.stop();
          }
        });
      }
    }
  });
});
