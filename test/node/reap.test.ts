import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeBox } from "./box.ts";
import { nodeLayout } from "./layout.ts";
import { RealNode } from "./node.ts";

describe("stale nodes of a killed test run", function () {
  this.timeout(30_000);

  it("are torn down by the next run: their processes, cgroups, netns and run folder go; live runs are left alone", async () => {
    // A pid that is certainly gone: a child that has exited.
    const dead = String(spawnSync("true").pid);
    const L = nodeLayout(dead);
    const dir = mkdtempSync(join(tmpdir(), "ppnode-"));
    writeFileSync(join(dir, "owner"), dead);
    const box = new NodeBox(L, dir);
    await box.create();
    const anchor = box.anchorPid;
    assert.ok(existsSync(`/run/netns/${L.netns}`));
    const live = mkdtempSync(join(tmpdir(), "ppnode-"));
    writeFileSync(join(live, "owner"), String(process.pid));
    try {
      const reaped = await RealNode.reapStale();
      assert.ok(reaped.includes(dead), `reaped ${reaped.join(",")}`);
      assert.equal(existsSync(`/run/netns/${L.netns}`), false);
      assert.equal(existsSync(`/sys/fs/cgroup/pids/${L.cgroup}`), false);
      assert.equal(
        existsSync(`/proc/${anchor}/cmdline`) &&
          spawnSync("cat", [`/proc/${anchor}/cmdline`])
            .stdout.toString()
            .startsWith("sleep"),
        false,
      );
      assert.equal(existsSync(dir), false);
      assert.equal(existsSync(live), true, "a live run's folder stays");
    } finally {
      await box.destroy({ removeEmptyRunNetns: true });
      rmSync(live, { recursive: true, force: true });
    }
  });
});
