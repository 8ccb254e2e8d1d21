/** Guarded children: stopped in order (ask, wait, kill), and never outliving their parent. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describeExit, exitOf, terminate } from "../../src/process/exit.ts";
import { PDEATHSIG_AVAILABLE, spawnGuarded } from "../../src/process/spawn.ts";
import { alive, NODE, ROOT, waitFor } from "../helpers.ts";

const env = process.env;

describe("process layer: spawn and terminate", function () {
  this.timeout(20_000);

  it("terminate: a child that exits on SIGTERM is 'exited'; one that ignores it is SIGKILLed after the grace", async () => {
    const polite = spawnGuarded(NODE, ["-e", "setInterval(() => {}, 1000)"], { env });
    assert.equal(await terminate(polite, 5000), "exited");
    assert.equal(describeExit(await exitOf(polite)), "signal SIGTERM");

    const stubborn = spawnGuarded(
      NODE,
      ["-e", "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)"],
      { env },
    );
    await new Promise((r) => stubborn.stdout!.once("data", r));
    assert.equal(await terminate(stubborn, 300), "killed");
    assert.equal(describeExit(await exitOf(stubborn)), "signal SIGKILL");
    assert.equal(await terminate(stubborn, 300), "already-exited");
  });

  it("describeExit names an exit status", async () => {
    const c = spawnGuarded(NODE, ["-e", "process.exit(3)"], { env });
    assert.equal(describeExit(await exitOf(c)), "exit status 3");
  });

  it("a guarded child dies with its parent, even a SIGKILLed one (PR_SET_PDEATHSIG)", async () => {
    assert.ok(PDEATHSIG_AVAILABLE, "podplug needs util-linux's setpriv on Linux to bind children to their parent");
    // The parent spawns a guarded sleeper, prints its pid, and is then SIGKILLed.
    const parent = spawn(
      NODE,
      [
        "--input-type=module",
        "-e",
        `import { spawnGuarded } from ${JSON.stringify(`${ROOT}/src/process/spawn.ts`)};
         const c = spawnGuarded(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { env: process.env });
         c.once("spawn", () => console.log(c.pid));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const pid = Number(await new Promise<string>((r) => parent.stdout!.once("data", (d: Buffer) => r(d.toString()))));
    assert.ok(alive(pid));
    parent.kill("SIGKILL");
    await waitFor(() => !alive(pid), 10_000, "the orphan to die");
  });
});
