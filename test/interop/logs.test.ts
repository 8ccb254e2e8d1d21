/**
 * Issue 4, case 3: a Go plugin's hclog output and raw stdout/stderr reach the
 * TypeScript host's pino log with the plugin's name and the mapped level; a
 * TypeScript plugin's logs reach a Go host's hclog at the right level and
 * never break its parser.
 */
import assert from "node:assert/strict";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { captureLogger, waitFor } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, runPeer } from "./peers.ts";

const LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
const PINO_LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 } as const;

describe("interop: logs and stdio across languages (case 3)", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  it("a Go plugin's hclog lines, raw stderr lines and GRPCStdio output land in the TS host's pino log", async () => {
    const { logger, records } = captureLogger("trace");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      name: "golog",
      logger,
    });
    try {
      const kv = await client.dispense("kv");
      assert.equal((await kv.get("log1")).toString(), "logged");
      const find = (msg: string) => records.find((r) => r.msg === msg);
      await waitFor(
        () => find("stdout log1") && find("stderr log1") && find("plain log1"),
        10_000,
        "the plugin's output in the host log",
      );
      for (const level of LEVELS) {
        const r = find(`${level} log1`);
        assert.ok(r, `no record for the plugin's ${level} line`);
        assert.equal(r.level, PINO_LEVEL[level], `level of "${level} log1"`);
        assert.equal(r.plugin, "golog");
        assert.equal(r.key, "log1", "the hclog fields are kept");
      }
      // go-plugin's rules for non-JSON stderr lines: a [LEVEL] prefix sets the level, else debug.
      assert.equal(find("[WARN] prefixed log1")?.level, PINO_LEVEL.warn);
      assert.equal(find("plain log1")?.level, PINO_LEVEL.debug);
      // What the plugin wrote on os.Stdout/os.Stderr came over GRPCStdio, still named.
      for (const m of ["stdout log1", "stderr log1"]) assert.equal(find(m)?.plugin, "golog", m);
    } finally {
      await client.kill();
    }
  });

  it("the raw GRPCStdio bytes of a Go plugin reach the host's stdio sinks (go-plugin's SyncStdout/SyncStderr)", async () => {
    const { Writable } = await import("node:stream");
    const sink = (into: string[]) =>
      new Writable({
        write: (c: Buffer, _e, cb) => {
          into.push(c.toString());
          cb();
        },
      });
    const out: string[] = [];
    const err: string[] = [];
    const { logger } = captureLogger("info");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      logger,
      stdio: { stdout: sink(out), stderr: sink(err) },
    });
    try {
      await (await client.dispense("kv")).get("log2");
      await waitFor(
        () => out.join("").includes("stdout log2\n") && err.join("").includes("stderr log2\n"),
        10_000,
        "stdio sinks",
      );
    } finally {
      await client.kill();
    }
  });

  it("a TS plugin's logs reach a Go host's hclog at each level, and raw lines follow go-plugin's rules", async () => {
    const r = await runPeer("gohost", ["-cmd", nodeCommand("test/interop/fixtures/log-plugin.ts"), "get", "log7"]);
    assert.equal(r.code, 0, explain(r));
    const find = (msg: string) => r.logs.find((l) => l["@message"] === msg);
    for (const level of LEVELS) {
      const l = find(`${level} log7`);
      assert.ok(l, `the Go host did not log "${level} log7":\n${explain(r)}`);
      assert.equal(l["@level"], level);
      assert.equal(l.key, "log7", "the fields survive the Go host's parser");
    }
    assert.equal(find("[WARN] prefixed log7")?.["@level"], "warn");
    assert.equal(find("plain log7")?.["@level"], "debug");
    // A JSON line the Go host could not parse would be logged whole, at debug.
    const unparsed = r.logs.filter((l) => l["@message"].startsWith("{"));
    assert.deepEqual(unparsed, [], "hclog lines the Go host failed to parse");
    assert.doesNotMatch(r.stderr, /panic|goroutine \d+ \[/);
    // process.stdout/stderr writes of the TS plugin arrive over GRPCStdio.
    const stdio = eventsOf(r, "stdio")
      .map((e) => `${e.channel}:${e.data}`)
      .join("");
    assert.match(stdio, /stdout:stdout log7\n/);
    assert.match(stdio, /stderr:stderr log7\n/);
  });

  it("nothing a TS plugin logs breaks a Go host's log parser: reserved keys, circular fields, newlines", async () => {
    const r = await runPeer("gohost", [
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts"),
      "get",
      "evil",
      "ping",
    ]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "get")[0]?.value, "survived");
    assert.equal(eventsOf(r, "ping").length, 1, "the Go host kept working");
    assert.doesNotMatch(r.stderr, /panic|goroutine \d+ \[/);
    const level = (msg: string) => r.logs.find((l) => l["@message"] === msg)?.["@level"];
    assert.equal(level("evil fields"), "warn");
    assert.equal(level("circular"), "error");
    assert.equal(level("two\nlines"), "info");
    assert.equal(level("after"), "info");
  });
});
