/**
 * Nothing left behind on any exit of the host: its plugin process and its
 * temp socket folder are gone however the host ends, and the folders of hosts
 * that were SIGKILLed are swept at the next start — never a live host's,
 * never an unrelated path.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OWNER_FILE, sweepDeadHostDirs } from "../../src/host/socket-dir.ts";
import { selfIdentity } from "../../src/process/identity.ts";
import { alive, fixture, NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

interface Started {
  pid: number;
  dir: string;
  host: ReturnType<typeof spawn>;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

async function startHost(how: string, tmp: string): Promise<Started> {
  const host = spawn(NODE, [fixture("exiting-host.ts"), how], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmp },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  host.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) =>
    host.once("close", (code, signal) => r({ code, signal, stderr })),
  );
  const line = await new Promise<string>((resolve, reject) => {
    host.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
    void ended.then((e) => reject(new Error(`host ended before starting its plugin: ${JSON.stringify(e)}`)));
  });
  const { pid, dir } = JSON.parse(line) as { pid: number; dir: string };
  assert.ok(alive(pid) && existsSync(dir), "the plugin runs and its folder exists");
  assert.ok(dir.startsWith(`${tmp}/pp-${host.pid}-`), `${dir} is named for its host`);
  host.stdin!.end("go\n");
  return { pid, dir, host, ended };
}

describe("nothing left behind on any exit of the host", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir("pc-")));
  afterEach(() => tmp.remove());

  const cases: [
    how: string,
    signal: NodeJS.Signals | undefined,
    expect: { code: number | null; signal: string | null },
  ][] = [
    ["exit", undefined, { code: 3, signal: null }],
    ["throw", undefined, { code: 1, signal: null }],
    ["reject", undefined, { code: 1, signal: null }],
    ["natural", undefined, { code: 0, signal: null }],
    ["wait", "SIGTERM", { code: null, signal: "SIGTERM" }],
    ["wait", "SIGINT", { code: null, signal: "SIGINT" }],
    ["wait", "SIGHUP", { code: null, signal: "SIGHUP" }],
    ["app-handler", "SIGTERM", { code: 0, signal: null }],
    ["mocha-exit", undefined, { code: 1, signal: null }],
  ];
  for (const [how, signal, expect] of cases) {
    it(`${how}${signal ? ` + ${signal}` : ""}: the plugin is gone, the socket folder removed, the exit status kept`, async () => {
      const s = await startHost(how, tmp.dir);
      if (signal) s.host.kill(signal);
      const end = await s.ended;
      assert.deepEqual({ code: end.code, signal: end.signal }, expect, end.stderr);
      await waitFor(() => !alive(s.pid), 10_000, "the plugin to be gone");
      assert.equal(existsSync(s.dir), false, `${s.dir} was removed`);
    });
  }

  it("SIGKILL: the folder stays (nothing can run), and the next host's start sweeps it", async () => {
    const s = await startHost("wait", tmp.dir);
    s.host.kill("SIGKILL");
    await s.ended;
    await waitFor(() => !alive(s.pid), 10_000, "the plugin to die with its host (PR_SET_PDEATHSIG)");
    assert.ok(existsSync(s.dir), "a SIGKILLed host cannot clean up");
    // A live host's folder, and look-alikes that are not a host's folder, must survive the sweep.
    const live = await startHost("wait", tmp.dir);
    try {
      assert.equal(existsSync(s.dir), false, "the dead host's folder was swept by the next start");
      assert.ok(existsSync(live.dir), "the live host's own folder is there");
      const second = await startHost("exit", tmp.dir);
      await second.ended;
      assert.ok(existsSync(live.dir), "a later start leaves the live host's folder alone");
    } finally {
      live.host.kill("SIGTERM");
      await live.ended;
    }
  });

  it("the sweep removes only dead hosts' folders of the exact shape, with a matching owner file", () => {
    const root = mkdtempSync(join(tmp.dir, "sweep-"));
    const dead = 2 ** 22 + 12345; // above the default pid_max of 2^22: no process has it
    const mk = (name: string, owner?: string): string => {
      const p = join(root, name);
      mkdirSync(p);
      if (owner !== undefined) writeFileSync(join(p, OWNER_FILE), owner);
      return p;
    };
    const deadDir = mk(`pp-${dead}-abcdef`, `${dead} 123\n`);
    const mine = mk(`pp-${process.pid}-abcdef`, `${selfIdentity()}\n`);
    const reused = mk(`pp-${process.pid}-zzzzzz`, `${process.pid} 1\n`); // our pid, another start time: a dead host
    const noOwner = mk(`pp-${dead}-ghijkl`);
    const wrongPid = mk(`pp-${dead}-mnopqr`, `${process.pid} 1\n`);
    const otherShape = mk(`pp-${dead}-abc`, `${dead} 1\n`);
    const unrelated = mk("pp-notapid-abcdef", `${dead} 1\n`);
    writeFileSync(join(root, `pp-${dead}-stuvwx`), `${dead} 1\n`); // a file, not a folder
    const removed = sweepDeadHostDirs(root).sort();
    assert.deepEqual(removed, [deadDir, reused].sort());
    for (const kept of [mine, noOwner, wrongPid, otherShape, unrelated]) assert.ok(existsSync(kept), kept);
    rmSync(root, { recursive: true });
  });
});
