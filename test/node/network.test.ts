import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { HarnessError } from "../cluster/errors.ts";
import { kubectlOk, NodeCluster } from "../e2e/cluster.ts";
import { freshNamespace, podOutcome, toolsPod } from "../e2e/pods.ts";
import { useE2ECluster } from "../e2e/shared.ts";
import { toolsImage } from "./images.ts";

const cluster = useE2ECluster();
const NS = "podplug-node-net";

async function node(): Promise<NodeCluster> {
  const c = await cluster();
  if (!(c instanceof NodeCluster))
    throw new HarnessError("CLUSTER_NOT_READY", "these tests need the harness's own node");
  return c;
}

function inNetns(netns: string, args: string[]): string {
  try {
    return execFileSync("ip", ["-n", netns, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    return String((err as { stderr?: string }).stderr);
  }
}

describe("the real node's network (no route out)", function () {
  this.timeout(180_000);

  it("has only the node, Service and pod routes in its namespace, so the outside is unreachable (route lookups only, nothing sent)", async () => {
    const c = await node();
    const L = c.node.layout;
    const routes = inNetns(L.netns, ["route", "show"])
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0])
      .sort();
    assert.deepEqual(routes, [L.nodeCIDR, L.podCIDR, L.serviceCIDR].sort());
    assert.equal(inNetns(L.netns, ["-6", "route", "show", "default"]).trim(), "");
    const gw = execFileSync("ip", ["route", "show", "default"], { encoding: "utf8" }).split(" ")[2] ?? "192.0.2.1";
    for (const dst of ["1.1.1.1", gw]) assert.match(inNetns(L.netns, ["route", "get", dst]), /Network is unreachable/);
  });

  it("gives pods no default route: only the pod, node and Service networks", async () => {
    const c = await node();
    await freshNamespace(c, NS);
    await kubectlOk(c, ["apply", "-f", "-"], toolsPod("routes", NS, toolsImage(c.images), "ip route"));
    const { phase, logs } = await podOutcome(c, NS, "routes");
    assert.equal(phase, "Succeeded", logs);
    assert.doesNotMatch(logs, /^default/m);
    const L = c.node.layout;
    for (const net of [L.podCIDR, L.nodeCIDR, L.serviceCIDR])
      assert.match(logs, new RegExp(`^${net.replaceAll(".", "\\.")} `, "m"));
  });
});
