/**
 * Issue 11: go-plugin's SecureConfig for subprocess mode. The TS host checks
 * the plugin executable's checksum before every start; a wrong checksum is
 * CHECKSUM_MISMATCH with go-plugin's words (go-plugin's own host is the
 * reference) and the plugin never runs: the command is a script that leaves
 * a mark each time it is executed.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import { captureLogger, tempDir, waitFor } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, runPeer } from "./peers.ts";

const quiet = pino({ level: "silent" });
const sha256 = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("interop: SecureConfig (the plugin binary's checksum)", () => {
  let tmp: ReturnType<typeof tempDir>;
  let script: string;
  let marks: string;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => {
    tmp = tempDir("sc-");
    script = join(tmp.dir, "kv-plugin");
    marks = join(tmp.dir, "runs");
    // Each run appends a line to `runs`, then becomes the Go kv plugin.
    writeFileSync(script, `#!/bin/sh\necho run >> ${marks}\nexec ${goPeer("goplugin")}\n`);
    chmodSync(script, 0o755);
  });
  afterEach(() => tmp.remove());

  const runs = (): number => (existsSync(marks) ? readFileSync(marks, "utf8").split("\n").filter(Boolean).length : 0);

  it("secure-ok: the right sha256 (hex or bytes) starts the plugin, found on PATH too", async () => {
    for (const checksum of [sha256(script), Buffer.from(sha256(script), "hex")]) {
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: { command: "kv-plugin", env: { PATH: `${tmp.dir}:${process.env.PATH}` } },
        secureConfig: { checksum, hash: "sha256" },
        logger: quiet,
      });
      try {
        const kv = await client.dispense("kv");
        await kv.put("a", Buffer.from("1"));
        assert.equal((await kv.get("a")).toString(), "1");
      } finally {
        await client.kill();
      }
    }
    assert.equal(runs(), 2);
  });

  it("secure-mismatch: a wrong checksum is CHECKSUM_MISMATCH (go-plugin's 'checksums did not match') and the plugin never runs", async () => {
    const wrong = createHash("sha256").update("something else").digest("hex");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: script },
      secureConfig: { checksum: wrong, hash: "sha256" },
      logger: quiet,
    });
    try {
      await assert.rejects(client.start(), (err: unknown) => {
        assert.ok(isPodplugError(err, "CHECKSUM_MISMATCH"), String(err));
        assert.match(err.message, /checksums did not match/);
        assert.equal(err.details.actual, sha256(script));
        assert.equal(err.details.expected, wrong);
        return true;
      });
    } finally {
      await client.kill();
    }
    assert.equal(runs(), 0);
    // go-plugin's host says the same, and does not run it either.
    const r = await runPeer("gohost", ["-checksum", wrong, "-cmd", script, "ping"]);
    assert.equal(r.code, 1, explain(r));
    assert.equal(eventsOf(r, "error")[0]?.error, "checksums did not match");
    assert.equal(runs(), 0);
    // ... and runs it with the right one: the same checksum semantics on both hosts.
    const ok = await runPeer("gohost", ["-checksum", sha256(script), "-cmd", script, "ping"]);
    assert.equal(ok.code, 0, explain(ok));
    assert.equal(runs(), 1);
  });

  it("secure-replaced: a binary replaced while the plugin runs is refused at the restart; it runs no more", async () => {
    const { logger, records } = captureLogger("warn");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: script },
      secureConfig: { checksum: sha256(script), hash: "sha256" },
      backoff: { initialMs: 50, maxMs: 200 },
      logger,
    });
    try {
      await client.start();
      const pid = client.pid!;
      // Someone swaps the file, then the plugin dies: the restart must check again.
      copyFileSync(script, `${script}.orig`);
      writeFileSync(script, `${readFileSync(`${script}.orig`, "utf8")}# tampered\n`);
      process.kill(pid, "SIGKILL");
      await waitFor(
        () => records.find((r) => r.code === "CHECKSUM_MISMATCH" && r.msg === "plugin restart failed"),
        10_000,
        "the refused restart",
      );
      assert.equal(runs(), 1);
    } finally {
      await client.kill();
    }
  });

  const invalid: [string, object, RegExp][] = [
    ["an empty checksum", { checksum: "", hash: "sha256" }, /no checksum provided/],
    ["an empty byte checksum", { checksum: Buffer.alloc(0), hash: "sha256" }, /no checksum provided/],
    ["an unknown hash", { checksum: "ab", hash: "crc-9000" }, /no hash implementation provided/],
    ["a checksum that is not hex", { checksum: "zz-not-hex", hash: "sha256" }, /not hex/],
  ];
  for (const [what, secureConfig, message] of invalid) {
    it(`secure-invalid: ${what} is SECURE_CONFIG_INVALID before anything starts`, () => {
      assert.throws(
        () =>
          new Client({
            handshake,
            plugins: { kv: kvPlugin() },
            cmd: { command: script },
            secureConfig: secureConfig as never,
            logger: quiet,
          }),
        (err: unknown) => isPodplugError(err, "SECURE_CONFIG_INVALID") && message.test((err as Error).message),
      );
      assert.equal(runs(), 0);
    });
  }

  it("secure-missing-binary: a command that resolves to nothing is SECURE_CONFIG_INVALID ('error verifying checksum')", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: "no-such-plugin-binary", env: { PATH: tmp.dir } },
      secureConfig: { checksum: "ab", hash: "sha256" },
      logger: quiet,
    });
    try {
      await assert.rejects(
        client.start(),
        (err: unknown) =>
          isPodplugError(err, "SECURE_CONFIG_INVALID") && /error verifying checksum/.test((err as Error).message),
      );
    } finally {
      await client.kill();
    }
  });

  it("secure-with-attach: secureConfig with attach or reattach is CONFIG_INVALID (go-plugin: only one of Reattach or SecureConfig)", () => {
    for (const mode of [
      { attach: { dir: tmp.dir, protocolVersion: 1 } },
      {
        reattach: {
          protocol: "grpc",
          protocolVersion: 1,
          addr: { network: "unix", address: "/tmp/p1" },
          pid: 0,
          test: true,
        },
      },
    ] as const) {
      assert.throws(
        () =>
          new Client({
            handshake,
            plugins: { kv: kvPlugin() },
            ...mode,
            secureConfig: { checksum: "ab", hash: "sha256" },
            logger: quiet,
          }),
        (err: unknown) => isPodplugError(err, "CONFIG_INVALID") && /SecureConfig/.test((err as Error).message),
      );
    }
  });
});
