import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  hostDeployment,
  initNames,
  type OperatorHandle,
  pluginManifest,
  template,
  useNamespace,
  waitTemplate,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();

describe("the injected template under the restricted Pod Security Standard", function () {
  this.timeout(120_000);
  const NS = "pss-restricted";
  const fx = useNamespace(cluster, NS, {
    labels: {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    },
    operatorArgs: [],
  });
  let c: TestCluster;
  before(() => {
    c = fx.cluster();
  });

  it("is admitted as a Pod by a namespace that enforces restricted", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("pss"), hostDeployment("pss-host", { "podplug.io/host": "pss" })),
    );
    const t = await waitTemplate(c, NS, "pss-host", "pss injected", (x) => initNames(x).includes("podplug-pss"));
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "pss-pod", labels: t.metadata?.labels },
      spec: t.spec,
    };
    const r = await c.kubectl(["apply", "-n", NS, "-f", "-"], yaml(pod));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /violate|Warning/);
  });

  it("(control) the same namespace refuses a Pod with a plain container", async () => {
    const r = await c.kubectl(
      ["apply", "-n", NS, "-f", "-"],
      yaml({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "plain" },
        spec: { containers: [{ name: "c", image: "x" }] },
      }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  });

  it("only watches the namespaces it is told to", async () => {
    await createNamespace(c, "pss-elsewhere");
    await c.kubectlOk(
      ["apply", "-n", "pss-elsewhere", "-f", "-"],
      yaml(pluginManifest("pss"), hostDeployment("pss-host", { "podplug.io/host": "pss" })),
    );
    // The operator of this block has seen the first namespace's work; give it a change it would act on, then check.
    await c.kubectlOk(["label", "-n", NS, "deployment", "pss-host", "nudge=1"]);
    await waitFor(
      "nudge seen",
      async () =>
        (await getJson<{ status?: { workloadCount?: number } }>(c, ["-n", NS, "plugin", "pss"]))?.status
          ?.workloadCount === 1,
    );
    assert.deepEqual(initNames(await template(c, "pss-elsewhere", "pss-host")), []);
  });
});

describe("the operator across an apiserver restart mid-reconcile", function () {
  this.timeout(240_000);
  const NS = "restart-test";
  const fx = useNamespace(cluster, NS, { operatorArgs: [] });
  let c: TestCluster;
  let op: OperatorHandle;
  before(() => {
    c = fx.cluster();
    op = fx.operator();
  });
  after(() => assert.equal(fx.exitCode(), 0, "the operator did not exit 0 on SIGTERM"));

  it("survives, retries, and converges on what was applied before and after", async () => {
    const N = 12;
    const objs: unknown[] = [];
    for (let i = 0; i < N; i++) {
      objs.push(
        pluginManifest(`r${i}`, { selector: { matchLabels: { restart: `r${i}` } } }),
        hostDeployment(`r${i}-host`, { restart: `r${i}` }),
      );
    }
    // Applied in one go, then the apiserver is stopped while the operator works through them.
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(...objs));
    await c.component("kube-apiserver").stop();
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(op.proc.running, "the operator died while the apiserver was down");
    await c.component("kube-apiserver").start(c.ctx);
    // Changes made after the restart are picked up too (the watches reconnected).
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("late", { selector: { matchLabels: { restart: "r0" } } })),
    );
    for (let i = 0; i < N; i++) {
      const want = i === 0 ? ["podplug-launcher", "podplug-late", "podplug-r0"] : ["podplug-launcher", `podplug-r${i}`];
      await waitTemplate(
        c,
        NS,
        `r${i}-host`,
        `r${i}-host converged`,
        (t) => JSON.stringify(initNames(t)) === JSON.stringify(want),
      );
    }
    await waitFor(
      "statuses converged",
      async () => {
        const list = await getJson<{ items: { status?: { workloadCount?: number } }[] }>(c, ["-n", NS, "plugins"]);
        return list!.items.length === N + 1 && list!.items.every((p) => p.status?.workloadCount === 1);
      },
      60_000,
    );
    assert.ok(op.proc.running);
    const log = readFileSync(op.proc.logFile, "utf8");
    assert.match(log, /list\/watch failed: retrying/);
    // The new apiserver's watch cache starts after the watchers' resourceVersions: 410 Gone, then a relist.
    assert.match(log, /resourceVersion too old \(410 Gone\): relisting/);
  });
});
