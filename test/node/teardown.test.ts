import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { HarnessError } from "../cluster/errors.ts";
import { kubectlOk, NodeCluster } from "../e2e/cluster.ts";
import { freshNamespace, toolsPod } from "../e2e/pods.ts";
import { e2eCluster, stopE2ECluster, useE2ECluster } from "../e2e/shared.ts";
import { toolsImage } from "./images.ts";
import { diffSnapshots, hostSnapshot } from "./snapshot.ts";

useE2ECluster();
const NS = "podplug-node-teardown";

// Runs after the e2e files (mocha sorts test/e2e before test/node) and stops the suite's node itself.
describe("the real node's teardown", function () {
  this.timeout(180_000);

  it("leaves nothing behind: processes, mounts, cgroups, the netns with its bridge and veths, iptables rules, sysctls, host paths", async () => {
    const c = await e2eCluster();
    if (!(c instanceof NodeCluster))
      throw new HarnessError("CLUSTER_NOT_READY", "this test needs the harness's own node");
    // A pod with a token volume: mounts, a veth on cni0, kube-proxy rules, pod cgroups.
    await freshNamespace(c, NS);
    await kubectlOk(c, ["apply", "-f", "-"], toolsPod("held", NS, toolsImage(c.images), "sleep 3600"));
    await kubectlOk(c, ["-n", NS, "wait", "--for=condition=Ready", "pod/held", "--timeout=60s"], undefined, 70_000);
    const during = hostSnapshot(c.node.layout, c.node.dir);

    const stopped = await stopE2ECluster();
    assert.ok(stopped, "the suite's cluster is the harness's node");
    const after = hostSnapshot(stopped.node.layout, stopped.node.dir);

    // The comparison sees a running node, so an empty diff afterwards means something.
    const running = diffSnapshots(stopped.before, during);
    for (const section of ["netns", "cgroups", "processes"])
      assert.ok(
        running.some((l) => l.startsWith(`${section}: +`)),
        `${section} should differ while the node runs:\n${running.join("\n")}`,
      );
    assert.deepEqual(diffSnapshots(stopped.before, after), []);
    assert.equal(existsSync(stopped.node.dir), false, "the run folder is removed");
  });
});
