/**
 * Plugin lifecycle in webhook mode on the real node (issue 13): the Plugin
 * status's Pod counts (`podCount`, `readyPodCount`, `workloads[].pods`) as
 * real Pods of a Deployment, a Job and a bare Pod start and become ready,
 * and a cluster reload (the Plugin annotation `podplug.io/reload`) that
 * restarts the kv sidecar in every one of those Pods — through the Pod
 * annotation, the kubelet's downward API volume and the launcher — while the
 * host containers and the Pods stay, and the hosts' calls recover.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import type { PluginReloadStatus, PluginStatus } from "../../src/inject/types.ts";
import { waitFor } from "../cluster/wait.ts";
import { imageRef } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { demoPlugins, installChart, type PodJson, pods, restrictedHost, status, ticks, yamlOf } from "./demo.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const SYSTEM = "podplug-e2e-lc-system";
const NS = "podplug-e2e-lc";
const RELEASE = "podplug-lc";
const ALL = "app=demo-host";

interface RunningStatus {
  restartCount: number;
  ready: boolean;
  state?: { running?: { startedAt: string } };
  lastState?: { terminated?: { exitCode: number; reason?: string } };
}
const sidecar = (p: PodJson, name: string): RunningStatus => status(p, name) as RunningStatus;
const uid = (p: PodJson): string => (p.metadata as { uid?: string }).uid ?? "";

async function pluginStatus(c: E2ECluster, name: string): Promise<PluginStatus> {
  const out = await kubectlOk(c, ["-n", NS, "get", "plugin", name, "-o", "jsonpath={.status}"]);
  return (out ? JSON.parse(out) : {}) as PluginStatus;
}

describe("plugin lifecycle in webhook mode on the real node", function () {
  this.timeout(300_000);

  before(async function () {
    this.timeout(240_000);
    const c = await cluster();
    imageRef(c.images, "ghcr.io/podplug/podplug:");
    // A template-mode operator of the other e2e files watches every namespace: it would patch this one's templates.
    await c.helm(["uninstall", "podplug", "-n", "podplug-e2e-system", "--wait"]);
    await installChart(c, {
      release: RELEASE,
      system: SYSTEM,
      ns: NS,
      mode: "webhook",
      sets: ["injection.webhook.upgradeProgressDeadlineSeconds=90"],
    });
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(demoPlugins()));
  });

  after(async function () {
    this.timeout(120_000);
    const c = await cluster();
    await c.helm(["uninstall", RELEASE, "-n", SYSTEM, "--wait"]);
    await c.kubectl(["delete", "namespace", NS, SYSTEM, "--wait=false"]);
  });

  it("counts a Deployment's, a Job's and a bare Pod's real Pods in podCount, readyPodCount and workloads[].pods as they become ready", async () => {
    const c = await cluster();
    const d = parse(restrictedHost()) as {
      spec: { replicas: number; template: { metadata: { labels: Record<string, string> }; spec: unknown } };
    };
    d.spec.replicas = 2;
    const template = d.spec.template;
    // The demo host runs until stopped: a Job of it keeps one live Pod, as a bare Pod does.
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "demo-job" },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: "demo-host", lc: "job" } },
          spec: { ...(template.spec as object), restartPolicy: "Never" },
        },
      },
    };
    const bare = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "demo-lone", labels: { app: "demo-host", lc: "bare" } },
      spec: template.spec,
    };
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], [stringify(d), stringify(job), stringify(bare)].join("---\n"));
    const seen: string[] = [];
    const s = await waitFor(
      "Plugin kv counting 4 live Pods, all ready",
      async () => {
        const st = await pluginStatus(c, "kv");
        const at = `${st.readyPodCount ?? "-"}/${st.podCount ?? "-"}`;
        if (seen.at(-1) !== at) seen.push(at);
        return st.podCount === 4 && st.readyPodCount === 4 ? st : undefined;
      },
      180_000,
      250,
    );
    console.log(`      kv readyPodCount/podCount as seen while the Pods started: ${seen.join(" → ")}`);
    assert.deepEqual(
      s.workloads?.map(({ digests: _d, ...w }) => w),
      [
        { kind: "Deployment", name: "demo-host", ready: true, pods: 2 },
        { kind: "Job", name: "demo-job", ready: true, pods: 1 },
        { kind: "Pod", name: "demo-lone", ready: true, pods: 1 },
      ],
    );
    // What the kubelet runs, from the Pods' imageID: the kv image's digest, in every group.
    const kv = c.images.find((i) => i.ref.startsWith("ghcr.io/podplug/example-kv:"));
    assert.ok(kv?.digest, "the kv image has a digest");
    for (const w of s.workloads ?? []) assert.deepEqual(w.digests, [kv.digest], `${w.kind}/${w.name}`);
    assert.equal(s.workloadCount, 3);
    assert.equal(s.readyWorkloadCount, 3);
    const cond = (type: string) => s.conditions?.find((x) => x.type === type);
    assert.equal(cond("Ready")?.status, "True", JSON.stringify(cond("Ready")));
    assert.equal(cond("Injected")?.reason, "Injected");
    // The counts agree with the kubelet's own view of those Pods.
    const ps = await pods(c, NS, ALL);
    assert.equal(ps.length, 4);
    for (const p of ps) assert.equal(sidecar(p, "podplug-kv").ready, true, `${p.metadata.name}: kv ready`);
    const counter = await pluginStatus(c, "counter");
    assert.equal(counter.podCount, 4);
  });

  it("podplug.io/reload restarts the kv sidecar in every Pod, one at a time: host restartCount 0, same Pod UIDs, the host's calls recover", async () => {
    const c = await cluster();
    const before = await pods(c, NS, ALL);
    assert.equal(before.length, 4);
    const was = new Map(before.map((p) => [p.metadata.name, { uid: uid(p), kv: sidecar(p, "podplug-kv") }]));
    const token = `e2e-${Date.now()}`;
    const t0 = Date.now();
    await kubectlOk(c, ["-n", NS, "annotate", "plugin", "kv", `podplug.io/reload=${token}`]);
    const done = await waitFor(
      "status.reload of kv: Reloaded",
      async () => {
        const r = (await pluginStatus(c, "kv")).reload;
        if (r?.token === token && r.state === "Halted") throw new Error(`reload halted: ${r.message}`);
        return r?.token === token && r.state === "Reloaded" ? r : undefined;
      },
      240_000,
      250,
    );
    const took = Date.now() - t0;
    assert.equal(done.podCount, 4);
    assert.equal(done.reloadedCount, 4, done.message);
    assert.deepEqual(done.reloadedPods, [...was.keys()].sort());
    assert.deepEqual(done.failedPods, []);
    const after = await pods(c, NS, ALL);
    const gaps: string[] = [];
    for (const p of after) {
      const name = p.metadata.name;
      const old = was.get(name);
      assert.ok(old, `${name} existed before: no Pod was replaced`);
      assert.equal(uid(p), old.uid, `${name}: same Pod`);
      assert.equal(status(p, "host").restartCount, 0, `${name}: host never restarted`);
      const kv = sidecar(p, "podplug-kv");
      assert.ok(kv.restartCount > old.kv.restartCount, `${name}: the kv sidecar restarted`);
      assert.notEqual(kv.state?.running?.startedAt, old.kv.state?.running?.startedAt, `${name}: a new kv process`);
      // The launcher's exit for a reload: Completed, 0 — not a crash, not the kubelet's kill.
      assert.equal(kv.lastState?.terminated?.exitCode, 0, `${name}: ${JSON.stringify(kv.lastState)}`);
      // The host's long-lived client reconnected: a successful kv call after the new sidecar started.
      const since = Date.parse(kv.state?.running?.startedAt ?? "") + 1000;
      const tick = await waitFor(
        `${name}: a kv call succeeding after the reload`,
        async () =>
          (await ticks(c, name, NS)).find((t) => t.time > since && !String(t.kv ?? "error").startsWith("error")),
        60_000,
        500,
      );
      gaps.push(`${name} ${tick.time - since + 1000} ms`);
    }
    // One Event for the whole reload.
    const events = await kubectlOk(c, [
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      "involvedObject.kind=Plugin,involvedObject.name=kv,reason=Reloaded",
      "-o",
      "jsonpath={range .items[*]}{.message}{'\\n'}{end}",
    ]);
    const lines = events.split("\n").filter((l) => l.includes(token));
    assert.equal(lines.length, 1, events);
    assert.match(lines[0]!, /4 of 4 pod\(s\) reloaded/);
    // Figures for the report (not asserted).
    console.log(
      `      reload of 4 pods: ${took} ms from kubectl annotate to Reloaded; first good kv call after each new sidecar start: ${gaps.join(", ")}`,
    );
  });

  it("a Pod that goes drops out of the counts; status.reload keeps the last reload", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "delete", "pod", "demo-lone", "--wait=true", "--timeout=60s"], undefined, 70_000);
    const s = await waitFor(
      "kv counting 3 Pods",
      async () => {
        const st = await pluginStatus(c, "kv");
        return st.podCount === 3 ? st : undefined;
      },
      60_000,
      250,
    );
    assert.deepEqual(
      s.workloads?.map((w) => `${w.kind}/${w.name}:${w.pods}`),
      ["Deployment/demo-host:2", "Job/demo-job:1"],
    );
    const r = s.reload as PluginReloadStatus;
    assert.equal(r.state, "Reloaded");
  });
});
