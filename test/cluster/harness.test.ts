import assert from "node:assert/strict";
import { KUBE_VERSION, kubeBinary } from "./binaries.ts";
import { TestCluster } from "./cluster.ts";
import { useSharedCluster } from "./shared.ts";
import { waitFor } from "./wait.ts";

const cluster = useSharedCluster();

describe("the test cluster harness", function () {
  this.timeout(180_000);

  it("starts etcd and kube-apiserver on loopback with a kubeconfig that kubectl uses", async () => {
    const c = await cluster();
    assert.match(c.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const v = JSON.parse(await c.kubectlOk(["version", "-o", "json"])) as { serverVersion: { gitVersion: string } };
    assert.equal(v.serverVersion.gitVersion, KUBE_VERSION, "the apiserver is the version mk/versions.env pins");
    assert.match(await c.kubectlOk(["get", "--raw", "/readyz"]), /ok/);
  });

  it("names a missing binary and the command that builds it", () => {
    const saved = process.env.PODPLUG_CACHE;
    process.env.PODPLUG_CACHE = "/nonexistent-podplug-cache";
    try {
      assert.throws(
        () => kubeBinary("kube-apiserver"),
        (err: Error & { code?: string }) =>
          err.code === "CLUSTER_BINARY_MISSING" && /run `make test-deps`/.test(err.message),
      );
    } finally {
      if (saved === undefined) delete process.env.PODPLUG_CACHE;
      else process.env.PODPLUG_CACHE = saved;
    }
  });

  it("refuses to hand out a kubeconfig or a component it does not have", () => {
    const c = new TestCluster();
    assert.throws(() => c.kubeconfig, { code: "CLUSTER_NOT_READY" });
    assert.throws(() => c.component("kubelet"), { code: "CLUSTER_START_FAILED" });
    return c.stop();
  });

  it("waitFor names what it waited for on timeout", async () => {
    await assert.rejects(
      waitFor("the impossible", () => false, 50, 10),
      (err: Error & { code?: string }) =>
        err.code === "CLUSTER_NOT_READY" && /waiting for the impossible/.test(err.message),
    );
  });
});
