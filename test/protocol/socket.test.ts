import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import {
  applySocketGroup,
  checkSocketPath,
  clearStaleSocket,
  MAX_SOCKET_PATH_BYTES,
  newSocketPath,
} from "../../src/protocol/socket.ts";
import { NODE, tempDir } from "../helpers.ts";

function listen(path: string): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(path, () => resolve(s));
  });
}

describe("socket files", () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("names sockets like go-plugin, inside the folder", () => {
    assert.match(newSocketPath(t.dir), new RegExp(`^${t.dir}/plugin\\d{10}$`));
  });

  it("refuses a path the kernel cannot hold, naming the fix", () => {
    const long = `/tmp/${"d".repeat(MAX_SOCKET_PATH_BYTES)}`;
    assert.throws(
      () => checkSocketPath(long),
      (err: Error & { code?: string }) =>
        err.code === "SOCKET_PATH_TOO_LONG" && /PLUGIN_UNIX_SOCKET_DIR/.test(err.message),
    );
    assert.throws(() => newSocketPath(`/tmp/${"é".repeat(60)}`), { code: "SOCKET_PATH_TOO_LONG" }); // bytes, not characters
  });

  it("removes a dead socket left by a killed process", async () => {
    const p = join(t.dir, "plugin.sock");
    // A process that listens and is SIGKILLed leaves its socket file behind.
    const child = spawn(
      NODE,
      ["-e", `require("net").createServer().listen(${JSON.stringify(p)}, () => console.log("up"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((r) => child.stdout.once("data", r));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    assert.ok(lstatSync(p).isSocket());
    await clearStaleSocket(p);
    assert.equal(existsSync(p), false);
  });

  it("refuses a live socket and leaves it alone", async () => {
    const p = join(t.dir, "plugin.sock");
    const s = await listen(p);
    try {
      await assert.rejects(clearStaleSocket(p), { code: "SOCKET_IN_USE" });
      assert.ok(existsSync(p));
    } finally {
      s.close();
    }
  });

  it("refuses a regular file in the way and keeps its content", async () => {
    const p = join(t.dir, "plugin.sock");
    writeFileSync(p, "precious");
    await assert.rejects(clearStaleSocket(p), { code: "SOCKET_IN_USE" });
    assert.equal(readFileSync(p, "utf8"), "precious");
  });

  it("applies PLUGIN_UNIX_SOCKET_GROUP as go-plugin does (group, mode 0660)", async () => {
    const p = join(t.dir, "g.sock");
    const s = await listen(p);
    try {
      applySocketGroup(p, String(process.getgid!()));
      assert.equal(lstatSync(p).mode & 0o777, 0o660);
      assert.throws(() => applySocketGroup(p, "no-such-group-podplug"), { code: "ENV_INVALID" });
    } finally {
      s.close();
    }
  });
});
