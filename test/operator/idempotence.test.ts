/**
 * An operator restart, crash or failover must not disturb a running workload:
 * every workload's generation, pod template and resourceVersion stay as they
 * were (no write at all), no `Removed` Event is posted and Plugin statuses are
 * not rewritten. The Plugin list is delayed (PODPLUG_OPERATOR_TEST_PLUGIN_LIST_DELAY_MS)
 * so that it always arrives after the workload lists: an operator that
 * reconciled before all its lists were in would strip every sidecar here.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  installCrd,
  metric,
  type OperatorHandle,
  scaleScenario,
  startOperator,
  waitQuiet,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const SLOW_PLUGIN_LIST = { PODPLUG_OPERATOR_TEST_PLUGIN_LIST_DELAY_MS: "1500" };

interface Snapshot {
  /** name -> generation, template hash, resourceVersion */
  workloads: Map<string, string>;
  /** name -> resourceVersion */
  plugins: Map<string, string>;
  events: { removed: number; total: number };
}

interface DeploymentList {
  items: {
    metadata: { name: string; generation: number; resourceVersion: string };
    spec: { template: { metadata?: { annotations?: Record<string, string> } } };
  }[];
}

async function snapshot(c: TestCluster, ns: string): Promise<Snapshot> {
  const d = await getJson<DeploymentList>(c, ["-n", ns, "deployments"]);
  const p = await getJson<{ items: { metadata: { name: string; resourceVersion: string } }[] }>(c, [
    "-n",
    ns,
    "plugins",
  ]);
  const ev = await getJson<{ items: { reason: string }[] }>(c, ["-n", ns, "events"]);
  const hash = (t: unknown): string => createHash("sha256").update(JSON.stringify(t)).digest("hex").slice(0, 12);
  return {
    workloads: new Map(
      d!.items.map((w) => [
        w.metadata.name,
        `gen=${w.metadata.generation} template=${hash(w.spec.template)} rv=${w.metadata.resourceVersion}`,
      ]),
    ),
    plugins: new Map(p!.items.map((x) => [x.metadata.name, x.metadata.resourceVersion])),
    events: { removed: ev!.items.filter((e) => e.reason === "Removed").length, total: ev!.items.length },
  };
}

function assertUndisturbed(before: Snapshot, after: Snapshot, what: string): void {
  assert.deepEqual([...after.workloads], [...before.workloads], `${what}: a workload was written`);
  assert.deepEqual([...after.plugins], [...before.plugins], `${what}: a Plugin was written`);
  assert.equal(after.events.removed, 0, `${what}: a Removed Event was posted`);
  assert.equal(after.events.total, before.events.total, `${what}: Events were posted`);
}

for (const n of [1, 100]) {
  describe(`restarts, crashes and failover with ${n} workload${n > 1 ? "s" : ""} leave every workload untouched`, function () {
    this.timeout(300_000);
    const NS = `idem-${n}`;
    const { objects, expected } = scaleScenario(n);
    const plugins = Math.max(1, Math.floor(n / 5));
    let c: TestCluster;
    let op: OperatorHandle | undefined;
    let converged: Snapshot;
    const args = ["--leader-elect=false", `--watch-namespaces=${NS}`];

    before(async function () {
      this.timeout(180_000);
      c = await cluster();
      await installCrd(c);
      await createNamespace(c, NS);
      await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(...objects));
      op = await startOperator(c, args, c.kubeconfig, `operator-${NS}`);
      await waitFor(
        "every workload injected",
        async () => {
          const d = await getJson<DeploymentList>(c, ["-n", NS, "deployments"]);
          return d!.items.every(
            (w) =>
              w.spec.template.metadata?.annotations?.["podplug.io/plugins"] ===
              expected.get(w.metadata.name)!.join(","),
          );
        },
        120_000,
        250,
      );
      await waitQuiet(op, n + plugins);
      converged = await snapshot(c, NS);
    });

    it("converging reconciled each workload once: the watch event of its own apply queues nothing", async () => {
      // Without recognising its own writes, every apply's event queued the workload again (2 N reconciles).
      const workloads = await metric(op!, 'controller_runtime_reconcile_total{controller="workload"');
      assert.equal(workloads, n);
    });
    after(async () => {
      await op?.stop();
    });

    it("5 restarts (SIGTERM, then a start whose Plugin list arrives last) write nothing", async () => {
      for (let i = 0; i < 5; i++) {
        assert.equal(await op!.stop(), 0);
        op = await startOperator(c, args, c.kubeconfig, `operator-${NS}`, SLOW_PLUGIN_LIST);
        await waitQuiet(op, n + plugins);
        assertUndisturbed(converged, await snapshot(c, NS), `restart ${i + 1}`);
      }
    });

    it("a SIGKILL while it reconciles, then a start, writes nothing", async () => {
      await op!.stop();
      op = await startOperator(c, args, c.kubeconfig, `operator-${NS}`, SLOW_PLUGIN_LIST);
      // Killed as soon as the workers run: reconciles are in flight.
      await waitFor("workers started", async () => (await op!.proc.tail(200)).includes("caches synced"), 30_000, 20);
      op.proc.child.kill("SIGKILL");
      await op.proc.exited();
      op = await startOperator(c, args, c.kubeconfig, `operator-${NS}`, SLOW_PLUGIN_LIST);
      await waitQuiet(op, n + plugins);
      assertUndisturbed(converged, await snapshot(c, NS), "after SIGKILL");
    });

    it("two replicas: killing the leader hands over to the standby, which writes nothing", async () => {
      await op!.stop();
      op = undefined;
      const lease = `idem-${n}-lease`;
      const replica = (id: string): Promise<OperatorHandle> =>
        startOperator(
          c,
          [
            "--leader-elect=true",
            `--leader-election-namespace=${NS}`,
            `--leader-election-id=${lease}`,
            `--identity=${id}`,
            `--watch-namespaces=${NS}`,
          ],
          c.kubeconfig,
          `operator-${NS}-${id}`,
          SLOW_PLUGIN_LIST,
        );
      const ops = new Map([
        ["a", await replica("a")],
        ["b", await replica("b")],
      ]);
      try {
        const holder = async (): Promise<string | undefined> =>
          (await getJson<{ spec: { holderIdentity?: string } }>(c, ["-n", NS, "lease", lease]))?.spec.holderIdentity ||
          undefined;
        const leader = await waitFor("a leader", holder);
        const standby = leader === "a" ? "b" : "a";
        await waitQuiet(ops.get(leader)!, n + plugins);
        assertUndisturbed(converged, await snapshot(c, NS), "the first leader");
        ops.get(leader)!.proc.child.kill("SIGKILL");
        await ops.get(leader)!.proc.exited();
        ops.delete(leader);
        // The killed leader never released the Lease: the standby takes it once it expires.
        await waitFor("the standby leads", async () => (await holder()) === standby, 60_000, 250);
        await waitQuiet(ops.get(standby)!, n + plugins);
        assertUndisturbed(converged, await snapshot(c, NS), "after failover");
      } finally {
        for (const o of ops.values()) await o.stop();
      }
    });
  });
}
