/**
 * ReattachConfig parsing (src/protocol/reattach.ts): Terraform's JSON shape
 * in and out, and every malformed or hostile config refused with a code.
 * The process identity check runs against real processes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { join } from "node:path";
import { isPodplugError } from "../../src/errors.ts";
import { processStartTime } from "../../src/process/identity.ts";
import {
  checkPluginPid,
  formatReattachConfig,
  parseReattachConfig,
  parseReattachMap,
} from "../../src/protocol/reattach.ts";
import { tempDir } from "../helpers.ts";

const good = {
  Protocol: "grpc",
  ProtocolVersion: 5,
  Pid: 1234,
  Test: true,
  Addr: { Network: "unix", String: "/tmp/plugin123" },
};

describe("reattach config", () => {
  it("reads Terraform's TF_REATTACH_PROVIDERS shape and writes it back, StartTime included", () => {
    const c = parseReattachConfig(JSON.stringify({ ...good, StartTime: "987" }));
    assert.deepEqual(c, {
      protocol: "grpc",
      protocolVersion: 5,
      addr: { network: "unix", address: "/tmp/plugin123" },
      pid: 1234,
      test: true,
      startTime: "987",
    });
    assert.deepEqual(JSON.parse(formatReattachConfig(c)), { ...good, StartTime: "987" });
    const m = parseReattachMap(JSON.stringify({ "registry.terraform.io/hashicorp/kv": good }));
    assert.equal(m["registry.terraform.io/hashicorp/kv"]?.pid, 1234);
  });

  const bad: [string, unknown, string][] = [
    ["not JSON", "{", "REATTACH_INVALID"],
    ["an array", [], "REATTACH_INVALID"],
    ["no Addr", { Protocol: "grpc" }, "REATTACH_INVALID"],
    ["netrpc (go-plugin's default when Protocol is empty)", { ...good, Protocol: undefined }, "HANDSHAKE_PROTOCOL"],
    ["tcp", { ...good, Addr: { Network: "tcp", String: "127.0.0.1:1234" } }, "HANDSHAKE_NETWORK"],
    ["a relative socket path", { ...good, Addr: { Network: "unix", String: "plugin1" } }, "REATTACH_INVALID"],
    [
      "a socket path over 107 bytes",
      { ...good, Addr: { Network: "unix", String: `/${"a".repeat(120)}` } },
      "SOCKET_PATH_TOO_LONG",
    ],
    ["a negative pid", { ...good, Pid: -1 }, "REATTACH_INVALID"],
    ["a fractional pid", { ...good, Pid: 1.5 }, "REATTACH_INVALID"],
    ["a string pid", { ...good, Pid: "1" }, "REATTACH_INVALID"],
    ["a non-boolean Test", { ...good, Test: "yes" }, "REATTACH_INVALID"],
    ["a bad StartTime", { ...good, StartTime: "1; rm -rf /" }, "REATTACH_INVALID"],
    ["a negative version", { ...good, ProtocolVersion: -2 }, "REATTACH_INVALID"],
    ["100 KiB of JSON", `{"a":"${"x".repeat(100 * 1024)}"}`, "REATTACH_INVALID"],
  ];
  for (const [what, input, code] of bad) {
    it(`refuses ${what} with ${code}`, () => {
      const text = typeof input === "string" ? input : JSON.stringify(input);
      assert.throws(
        () => parseReattachConfig(text),
        (err: unknown) => isPodplugError(err, code as never),
      );
    });
  }

  it("a TF_REATTACH_PROVIDERS entry that is wrong names the plugin in its error", () => {
    assert.throws(
      () => parseReattachMap(JSON.stringify({ aws: good, kv: { ...good, Pid: -4 } })),
      (err: unknown) => isPodplugError(err, "REATTACH_INVALID") && /plugin "kv"/.test((err as Error).message),
    );
  });

  describe("which process a pid is", () => {
    let tmp: ReturnType<typeof tempDir>;
    let server: net.Server;
    let path: string;
    beforeEach(async () => {
      tmp = tempDir("ra-");
      path = join(tmp.dir, "plugin1");
      server = net.createServer();
      await new Promise<void>((r) => server.listen(path, r));
    });
    afterEach(() => {
      server.close();
      tmp.remove();
    });

    it("the process holding the listening socket is verified, with its start time", () => {
      const c = checkPluginPid(process.pid, path);
      assert.deepEqual(c, { ok: true, verified: true, startTime: processStartTime(process.pid) });
    });

    it("a live process that does not hold the socket is REATTACH_PROCESS_MISMATCH (a reused pid)", async () => {
      const other = spawn("sleep", ["30"], { stdio: "ignore" });
      await once(other, "spawn");
      try {
        const c = checkPluginPid(other.pid!, path);
        assert.equal(c.ok, false);
        assert.equal(!c.ok && c.code, "REATTACH_PROCESS_MISMATCH");
      } finally {
        const gone = once(other, "exit");
        other.kill("SIGKILL");
        await gone;
      }
    });

    it("a start time other than the recorded one is REATTACH_PROCESS_MISMATCH", () => {
      const c = checkPluginPid(process.pid, path, "1");
      assert.equal(!c.ok && c.code, "REATTACH_PROCESS_MISMATCH");
    });

    it("a pid with no process is REATTACH_NOT_FOUND", async () => {
      const gone = spawn("true", { stdio: "ignore" });
      await once(gone, "exit");
      const c = checkPluginPid(gone.pid!, path);
      assert.equal(!c.ok && c.code, "REATTACH_NOT_FOUND");
    });
  });
});
