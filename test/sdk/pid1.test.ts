/**
 * podplug's processes as PID 1 of their own PID namespace, as in a
 * container: the kernel drops signals PID 1 has no handler for, so each must
 * install one and exit on SIGTERM and SIGINT when idle (issue 19). How long
 * they take is measured in bench/, not here: here, the exit status.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { fixture, NODE, tempDir, waitFor } from "../helpers.ts";
import { launcherPath } from "../launcher/launcher.ts";

/** A process started under `unshare --pid --fork --mount-proc`, and its pid (outside) once it is PID 1 inside. */
interface Pid1 {
  unshare: ChildProcess;
  pid: number;
  stdout: () => string;
  exit: Promise<number | null>;
}

async function startAsPid1(argv: string[], env: Record<string, string>, exe = NODE): Promise<Pid1> {
  const unshare = spawn("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child", ...argv], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  unshare.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  unshare.stderr!.resume();
  const exit = new Promise<number | null>((r) => unshare.once("exit", (code) => r(code)));
  const pid = await waitFor(
    () => {
      try {
        const child = Number(readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, "utf8").trim());
        const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${child}/status`, "utf8"))?.[1]?.split(/\s+/);
        return nspid?.at(-1) === "1" && readlinkSync(`/proc/${child}/exe`) === exe ? child : 0;
      } catch {
        return 0;
      }
    },
    10_000,
    "the child to be PID 1 of its namespace",
  );
  return { unshare, pid, stdout: () => out, exit };
}

/** Resolves the exit status, or null if still running after `ms` (then it is SIGKILLed). */
async function exitWithin(p: Pid1, ms: number): Promise<number | null | "running"> {
  const t = new Promise<"running">((r) => setTimeout(() => r("running"), ms));
  const res = await Promise.race([p.exit, t]);
  if (res === "running") {
    p.unshare.kill("SIGKILL"); // --kill-child takes PID 1 with it
    await p.exit;
  }
  return res;
}

describe("processes as PID 1 (SIGTERM and SIGINT in a container)", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir("p1-")));
  afterEach(() => t.remove());

  it("premise: a Node PID 1 without a handler ignores SIGTERM", async () => {
    const p = await startAsPid1([NODE, "-e", "process.stdout.write('ready\\n'); setInterval(() => {}, 1000)"], {});
    await waitFor(() => p.stdout().includes("ready"), 10_000, "ready");
    process.kill(p.pid, "SIGTERM");
    assert.equal(await exitWithin(p, 1500), "running");
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`podplug-launcher, running a plugin, forwards ${signal} and exits with its status 0; the handshake file is removed`, async () => {
      const p = await startAsPid1(
        [launcherPath(), "run", "--", NODE, fixture("test-plugin.ts")],
        {
          BASIC_PLUGIN: "hello",
          PLUGIN_PROTOCOL_VERSIONS: "1",
          PLUGIN_UNIX_SOCKET_DIR: t.dir,
          PODPLUG_HANDSHAKE_FILE: join(t.dir, "handshake"),
        },
        launcherPath(),
      );
      await waitFor(() => existsSync(join(t.dir, "handshake")), 10_000, "the handshake file");
      process.kill(p.pid, signal);
      assert.equal(await exitWithin(p, 10_000), 0);
      assert.equal(existsSync(join(t.dir, "handshake")), false);
    });

    it(`a plugin in sidecar mode (serve()) exits 0 on ${signal} and removes its handshake file`, async () => {
      const p = await startAsPid1([NODE, fixture("test-plugin.ts")], {
        BASIC_PLUGIN: "hello",
        PLUGIN_PROTOCOL_VERSIONS: "1",
        PLUGIN_UNIX_SOCKET_DIR: t.dir,
        PODPLUG_HANDSHAKE_FILE: join(t.dir, "handshake"),
      });
      await waitFor(() => existsSync(join(t.dir, "handshake")), 10_000, "the handshake file");
      process.kill(p.pid, signal);
      assert.equal(await exitWithin(p, 10_000), 0);
      assert.equal(existsSync(join(t.dir, "handshake")), false);
    });

    it(`a host stuck attaching, with exitOnSignals(), exits 0 on ${signal}`, async () => {
      const p = await startAsPid1([NODE, fixture("signal-host.ts")], { ATTACH_DIR: join(t.dir, "none") });
      await waitFor(() => p.stdout().includes("ready"), 10_000, "the host to wait");
      process.kill(p.pid, signal);
      assert.equal(await exitWithin(p, 10_000), 0);
    });
  }
});
