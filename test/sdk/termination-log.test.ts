/**
 * serve()'s last words in a container: a plugin that stops on a contract
 * error writes one line `<CODE>: <sentence>` (≤ 4096 bytes) to the file
 * PODPLUG_TERMINATION_LOG names (the kubelet's terminationMessagePath in a
 * pod), which the operator reads into the Plugin's status. Real processes.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  TERMINATION_MESSAGE_MAX_BYTES,
  terminationLine,
  writeTerminationMessage,
} from "../../src/plugin/termination-log.ts";
import { startSidecar, stopProcess, tempDir, waitFor } from "../helpers.ts";

async function exitCode(p: ChildProcess): Promise<number | null> {
  p.stdout!.resume();
  p.stderr!.resume();
  return new Promise((r) => p.once("close", r));
}

describe("the plugin's termination message (serve())", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let log: string;
  beforeEach(() => {
    t = tempDir();
    log = join(t.dir, "termination-log");
  });
  afterEach(() => t.remove());

  it("refusing the offered versions: exit 1 and HANDSHAKE_APP_VERSION with go-plugin's sentence, one line", async () => {
    const p = startSidecar(t.dir, { PLUGIN_PROTOCOL_VERSIONS: "2,3", PODPLUG_TERMINATION_LOG: log });
    assert.equal(await exitCode(p), 1);
    const line = readFileSync(log, "utf8");
    assert.match(
      line,
      /^HANDSHAKE_APP_VERSION: Incompatible API version with plugin\. Plugin version: 1, Client versions: \[2 3\]\. This plugin serves \[1\]/,
    );
    assert.doesNotMatch(line, /\n/);
    assert.ok(Buffer.byteLength(line) <= TERMINATION_MESSAGE_MAX_BYTES);
  });

  it("a wrong magic cookie: exit 1 and HANDSHAKE_COOKIE naming the key, not the value", async () => {
    const p = startSidecar(t.dir, { BASIC_PLUGIN: "not-hello", PODPLUG_TERMINATION_LOG: log });
    assert.equal(await exitCode(p), 1);
    const line = readFileSync(log, "utf8");
    assert.match(line, /^HANDSHAKE_COOKIE: BASIC_PLUGIN is not this plugin's magic cookie/);
    assert.doesNotMatch(line, /not-hello|\n/);
  });

  it("a coded start error serve() rejects with (a socket folder too long): its code and message", async () => {
    const long = join(t.dir, "x".repeat(120));
    const p = startSidecar(t.dir, { PLUGIN_UNIX_SOCKET_DIR: long, PODPLUG_TERMINATION_LOG: log });
    assert.notEqual(await exitCode(p), 0);
    assert.match(readFileSync(log, "utf8"), /^SOCKET_PATH_TOO_LONG: socket path .* bytes; Unix sockets allow at most/);
  });

  it("a plugin that serves writes nothing", async () => {
    const p = startSidecar(t.dir, { PODPLUG_TERMINATION_LOG: log });
    try {
      await waitFor(() => existsSync(join(t.dir, "handshake")), 15_000, "handshake file");
      assert.equal(existsSync(log), false);
    } finally {
      await stopProcess(p);
    }
    assert.equal(existsSync(log), false, "nor when it stops on SIGTERM");
  });

  it("folds newlines, cuts at 4096 bytes on a character boundary, and never throws on an unwritable path", () => {
    assert.equal(terminationLine("A_B", "one\n  two\n"), "A_B: one two");
    const cut = terminationLine("A_B", "é".repeat(3000));
    assert.ok(Buffer.byteLength(cut) <= TERMINATION_MESSAGE_MAX_BYTES);
    assert.ok(Buffer.byteLength(cut) >= TERMINATION_MESSAGE_MAX_BYTES - 1);
    assert.doesNotMatch(cut, /\uFFFD/, "no character cut in half");
    assert.equal(
      writeTerminationMessage("A_B", "x", { PODPLUG_TERMINATION_LOG: join(t.dir, "no", "such") }),
      undefined,
    );
    // Without the variable, the kubelet's file only when it exists (never created outside a container).
    const wrote = writeTerminationMessage("A_B", "x", {});
    assert.equal(wrote, existsSync("/dev/termination-log") ? "/dev/termination-log" : undefined);
  });
});
