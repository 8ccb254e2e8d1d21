import assert from "node:assert/strict";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  hostDeployment,
  initNames,
  installCrd,
  metric,
  type OperatorHandle,
  pluginManifest,
  startOperator,
  waitTemplate,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "leader-test";

describe("two operator replicas: one leads", function () {
  this.timeout(120_000);
  let c: TestCluster;
  const ops = new Map<string, OperatorHandle>();
  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await installCrd(c);
    await createNamespace(c, NS);
    for (const id of ["op-a", "op-b"]) {
      ops.set(
        id,
        await startOperator(
          c,
          [
            "--leader-elect=true",
            `--leader-election-namespace=${NS}`,
            "--leader-election-id=podplug-leader-test",
            `--identity=${id}`,
            `--watch-namespaces=${NS}`,
          ],
          c.kubeconfig,
          `operator-${id}`,
        ),
      );
    }
  });
  after(async () => {
    for (const op of ops.values()) await op.stop();
  });

  const holder = async (): Promise<string | undefined> =>
    (await getJson<{ spec: { holderIdentity?: string } }>(c, ["-n", NS, "lease", "podplug-leader-test"]))?.spec
      .holderIdentity || undefined;

  it("elects exactly one; only the leader reconciles; both are ready", async () => {
    const leader = await waitFor("a leader", holder);
    const standby = leader === "op-a" ? "op-b" : "op-a";
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("lead"), hostDeployment("lead-host", { "podplug.io/host": "lead" })),
    );
    await waitTemplate(c, NS, "lead-host", "injected by the leader", (t) => initNames(t).includes("podplug-lead"));
    assert.equal(await metric(ops.get(leader)!, "leader_election_master_status"), 1);
    assert.equal(await metric(ops.get(standby)!, "leader_election_master_status"), 0);
    assert.ok((await metric(ops.get(leader)!, "controller_runtime_reconcile_total")) > 0);
    assert.equal(await metric(ops.get(standby)!, "controller_runtime_reconcile_total"), 0);
    for (const op of ops.values()) assert.equal((await fetch(`${op.healthUrl}/readyz`)).status, 200);
  });

  it("on SIGTERM the leader exits 0 and hands the lease over; the standby takes up the work", async () => {
    const leader = (await holder())!;
    const standby = leader === "op-a" ? "op-b" : "op-a";
    assert.equal(await ops.get(leader)!.stop(), 0);
    ops.delete(leader);
    await waitFor("the standby leads", async () => (await holder()) === standby, 30_000);
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("after"), hostDeployment("after-host", { "podplug.io/host": "after" })),
    );
    await waitTemplate(c, NS, "after-host", "injected by the new leader", (t) =>
      initNames(t).includes("podplug-after"),
    );
    assert.equal(await metric(ops.get(standby)!, "leader_election_master_status"), 1);
    const lease = await getJson<{ spec: { leaseTransitions: number } }>(c, ["-n", NS, "lease", "podplug-leader-test"]);
    assert.ok(lease!.spec.leaseTransitions >= 1);
  });
});
