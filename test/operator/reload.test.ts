/**
 * Cluster reloads (`podplug.io/reload` on a Plugin, operator/webhook/reload.ts)
 * against the real apiserver: the operator in webhook mode annotates each
 * Pod that carries the sidecar, one at a time, and records progress in
 * `status.reload`. The kubelet's part (the sidecar restarted and ready, or
 * crash-looping) is written into the Pods' status as the kubelet writes it;
 * test/e2e/lifecycle.test.ts runs the same on a real node.
 */
import assert from "node:assert/strict";
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { rfc3339Seconds as iso } from "../../operator/rfc3339.ts";
import { planReload, podReloadState, reloadToken } from "../../operator/webhook/reload.ts";
import type { Plugin, PluginReloadStatus } from "../../src/inject/types.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { freePort } from "../cluster/ports.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  startOperator,
  webhookConfiguration,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "rl";
const SYSTEM = "rl-system";
const CONFIG = "podplug-reload-test";
const PLUGIN = "rk";
const SIDECAR = `podplug-${PLUGIN}`;
const POD_ANNOTATION = `podplug.io/reload-${PLUGIN}`;

function pod(name: string, labels: Record<string, string> = { reload: "yes" }): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels },
    spec: { automountServiceAccountToken: false, containers: [{ name: "host", image: "example/host:1" }] },
  };
}

/** A Pod injected by an operator before reloads: the sidecar without the reload file (the webhook skips it). */
function oldPod(name: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: NS,
      labels: { reload: "yes", "podplug.io/inject": "false" },
      annotations: { "podplug.io/plugins": PLUGIN },
    },
    spec: {
      automountServiceAccountToken: false,
      initContainers: [{ name: SIDECAR, image: `example/${PLUGIN}:1`, restartPolicy: "Always" }],
      containers: [{ name: "host", image: "example/host:1" }],
    },
  };
}

/** The sidecar's status as the kubelet writes it: running since `startedMs`, ready, or waiting for `reason`. */
function sidecarStatus(startedMs: number, restarts: number, waiting?: string): V1ContainerStatus {
  return {
    name: SIDECAR,
    image: `docker.io/example/${PLUGIN}:1`,
    imageID: "",
    restartCount: restarts,
    started: waiting === undefined,
    ready: waiting === undefined,
    state:
      waiting === undefined
        ? { running: { startedAt: new Date(iso(startedMs)) } }
        : { waiting: { reason: waiting, message: "back-off 10s restarting failed container" } },
  };
}

describe("cluster reload (podplug.io/reload) against the real apiserver", function () {
  this.timeout(120_000);
  let c: TestCluster;
  let op: OperatorHandle | undefined;
  let restart: () => Promise<void> = async () => {};

  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await installCrd(c);
    await createNamespace(c, NS);
    await createNamespace(c, SYSTEM);
    const port = await freePort();
    await c.kubectlOk(["apply", "-f", "-"], yaml(webhookConfiguration({ name: CONFIG, port, namespace: NS })));
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest(PLUGIN, {
          command: ["/plugin"],
          selector: { matchLabels: { reload: "yes" } },
        }),
      ),
    );
    const start = () =>
      startOperator(
        c,
        [
          "--leader-elect=false",
          `--watch-namespaces=${NS}`,
          "--injection-mode=webhook",
          `--webhook-bind-address=127.0.0.1:${port}`,
          "--webhook-cert-hosts=127.0.0.1,localhost",
          `--webhook-configuration-name=${CONFIG}`,
          `--leader-election-namespace=${SYSTEM}`,
          "--launcher-image=example/podplug:1",
          "--watchdog-period-seconds=1",
          "--upgrade-max-in-flight=1",
          "--upgrade-progress-deadline-seconds=60",
        ],
        c.kubeconfig,
        "operator-reload",
      );
    restart = async () => {
      await op?.stop();
      op = await start();
      await waitFor("the webhook ready again", async () => (await fetch(`${op!.healthUrl}/readyz`)).ok, 30_000, 100);
    };
    op = await start();
    await waitFor("the webhook ready", async () => (await fetch(`${op!.healthUrl}/readyz`)).ok, 30_000, 100);
    await waitFor("the webhook knows Plugin rk", async () => {
      await c.kubectl(["-n", NS, "delete", "pod", "rk-probe", "--wait=false", "--ignore-not-found"]);
      await c.kubectlOk(["create", "-f", "-"], yaml(pod("rk-probe", { other: "x" })));
      await c.kubectlOk(["-n", NS, "delete", "pod", "rk-probe", "--wait=false"]);
      const r = await c.kubectl(["create", "-f", "-"], yaml(pod("rk-a")));
      if (r.code !== 0) return false;
      const p = await getJson<V1Pod>(c, ["-n", NS, "pod", "rk-a"]);
      if ((p?.spec?.initContainers ?? []).some((x) => x.name === SIDECAR)) return true;
      await c.kubectlOk(["-n", NS, "delete", "pod", "rk-a", "--grace-period=0", "--force"]);
      return false;
    });
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("rk-b"), pod("rk-c"), oldPod("rk-old")));
  });
  after(async () => {
    await op?.stop();
  });

  const getPod = async (name: string): Promise<V1Pod> => {
    const p = await getJson<V1Pod>(c, ["-n", NS, "pod", name]);
    assert.ok(p, `pod ${name} exists`);
    return p;
  };
  const setSidecar = (name: string, st: V1ContainerStatus) =>
    c.kubectlOk([
      "-n",
      NS,
      "patch",
      "pod",
      name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Running", initContainerStatuses: [st] } }),
    ]);
  const annotated = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const n of ["rk-a", "rk-b", "rk-c", "rk-old"])
      out.push(`${n}=${(await getPod(n)).metadata?.annotations?.[POD_ANNOTATION] ?? "-"}`);
    return out;
  };
  /** The kubelet's part for each of `names` in turn: once the operator annotated it, its sidecar restarted and ready. */
  const kubeletReloads = async (token: string, names: string[], restarts: number): Promise<void> => {
    for (const n of names) {
      await waitFor(`${n} annotated ${token}`, async () => (await annotated()).includes(`${n}=${token}`), 30_000, 200);
      await setSidecar(n, sidecarStatus(Date.now() + 1000, restarts));
    }
  };
  const reloadStatus = (want: (s: PluginReloadStatus) => boolean, what: string): Promise<PluginReloadStatus> =>
    waitFor(
      what,
      async () => {
        const s = (await getJson<Plugin>(c, ["-n", NS, "plugin", PLUGIN]))?.status?.reload;
        return s && want(s) ? s : undefined;
      },
      30_000,
      200,
    );
  const events = async (reason: string): Promise<string[]> => {
    const out = await c.kubectlOk([
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      `involvedObject.kind=Plugin,involvedObject.name=${PLUGIN},reason=${reason}`,
      "-o",
      "jsonpath={range .items[*]}{.message}{'\\n'}{end}",
    ]);
    return out.split("\n").filter((l) => l.trim() !== "");
  };

  it("injects the reload file into the sidecar: a downward API volume of the Pod's podplug.io/reload-<plugin>", async () => {
    const p = await getPod("rk-a");
    const side = p.spec?.initContainers?.find((x) => x.name === SIDECAR);
    assert.deepEqual(
      side?.env?.find((e) => e.name === "PODPLUG_RELOAD_FILE"),
      { name: "PODPLUG_RELOAD_FILE", value: `/podplug/reload/${PLUGIN}` },
    );
    assert.deepEqual(
      side?.volumeMounts?.find((m) => m.name === "podplug-reload"),
      { name: "podplug-reload", mountPath: "/podplug/reload", readOnly: true },
    );
    assert.deepEqual(p.spec?.volumes?.find((v) => v.name === "podplug-reload")?.downwardAPI?.items, [
      { path: PLUGIN, fieldRef: { apiVersion: "v1", fieldPath: `metadata.annotations['${POD_ANNOTATION}']` } },
    ]);
  });

  it("reloads one pod at a time, each after the one before came back ready, and says which in status.reload", async () => {
    const long = Date.now() - 120_000;
    for (const n of ["rk-a", "rk-b", "rk-c", "rk-old"]) await setSidecar(n, sidecarStatus(long, 0));
    await c.kubectlOk(["-n", NS, "annotate", "plugin", PLUGIN, "podplug.io/reload=t1"]);
    let s = await reloadStatus((x) => x.token === "t1", "the reload under way");
    await waitFor("rk-a annotated", async () => (await annotated()).includes("rk-a=t1"), 30_000, 200);
    assert.equal(s.state, "Reloading");
    // Paced: the next pod waits for rk-a's sidecar to come back.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await annotated(), ["rk-a=t1", "rk-b=-", "rk-c=-", "rk-old=-"]);
    s = await reloadStatus((x) => x.state === "Reloading", "reloading");
    assert.equal(s.podCount, 4);
    assert.equal(s.reloadedCount, 0);
    // The kubelet restarts rk-a's sidecar (the launcher saw the file change): the next pod follows.
    await setSidecar("rk-a", sidecarStatus(Date.now() + 1000, 1));
    await waitFor("rk-b annotated", async () => (await annotated()).includes("rk-b=t1"), 30_000, 200);
    assert.deepEqual(await annotated(), ["rk-a=t1", "rk-b=t1", "rk-c=-", "rk-old=-"]);
    await setSidecar("rk-b", sidecarStatus(Date.now() + 1000, 1));
    await waitFor("rk-c annotated", async () => (await annotated()).includes("rk-c=t1"), 30_000, 200);
    await setSidecar("rk-c", sidecarStatus(Date.now() + 1000, 1));
    s = await reloadStatus((x) => x.state !== "Reloading", "the reload done");
    assert.equal(s.state, "Reloaded", s.message);
    assert.deepEqual(s.reloadedPods, ["rk-a", "rk-b", "rk-c"]);
    assert.equal(s.reloadedCount, 3);
    // The pod injected without the reload volume is named, not waited for, and never annotated.
    assert.deepEqual(
      s.failedPods.map((f) => `${f.name}/${f.reason}`),
      ["rk-old/NotReloadable"],
    );
    assert.match(s.failedPods[0]!.message, /roll its workload/);
    assert.ok(s.completionTime, "a completion time");
    assert.ok(!(await annotated()).some((a) => a.startsWith("rk-old=t")));
    const posted = await waitFor("the Reloaded event", async () => {
      const e = await events("Reloaded");
      return e.length > 0 ? e : undefined;
    });
    assert.equal(posted.length, 1, posted.join("\n"));
    assert.match(posted[0]!, /reload "t1" of sidecar podplug-rk: 3 of 4 pod\(s\) reloaded/);
    // Nothing more happens for the same token: a later restart of a pod does not start it again.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await events("Reloaded")).length, 1);
  });

  it("halts when a reloaded sidecar fails: no further pod, the failure in status.reload and a Warning", async () => {
    await c.kubectlOk(["-n", NS, "annotate", "--overwrite", "plugin", PLUGIN, "podplug.io/reload=t2"]);
    await waitFor("rk-a annotated t2", async () => (await annotated()).includes("rk-a=t2"), 30_000, 200);
    await setSidecar("rk-a", sidecarStatus(Date.now(), 2, "CrashLoopBackOff"));
    const s = await reloadStatus((x) => x.token === "t2" && x.state === "Halted", "the reload halted");
    assert.deepEqual(
      s.failedPods.map((f) => `${f.name}/${f.reason}`),
      ["rk-a/CrashLoopBackOff", "rk-old/NotReloadable"],
    );
    assert.match(
      s.message,
      /fails in rk-a: CrashLoopBackOff: no further pod is reloaded until the annotation podplug.io\/reload changes/,
    );
    const warned = await waitFor("the ReloadHalted event", async () => {
      const e = await events("ReloadHalted");
      return e.length > 0 ? e : undefined;
    });
    assert.equal(warned.length, 1);
    // Halted stays halted: rk-a coming back does not resume it.
    await setSidecar("rk-a", sidecarStatus(Date.now() + 1000, 3));
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await annotated(), ["rk-a=t2", "rk-b=t1", "rk-c=t1", "rk-old=-"]);
    assert.equal((await getJson<Plugin>(c, ["-n", NS, "plugin", PLUGIN]))?.status?.reload?.state, "Halted");
  });

  it("an operator restarted mid-reload goes on from the status: the same start time, the Pods left reloaded in turn", async () => {
    const long = Date.now() - 120_000;
    for (const n of ["rk-a", "rk-b", "rk-c"]) await setSidecar(n, sidecarStatus(long, 3));
    await c.kubectlOk(["-n", NS, "annotate", "--overwrite", "plugin", PLUGIN, "podplug.io/reload=t3"]);
    await waitFor("rk-a annotated t3", async () => (await annotated()).includes("rk-a=t3"), 30_000, 200);
    const first = await reloadStatus((x) => x.token === "t3", "the t3 reload under way");
    await restart();
    // The kubelet's restart of rk-a lands while the new operator starts.
    await setSidecar("rk-a", sidecarStatus(Date.now() + 1000, 4));
    await kubeletReloads("t3", ["rk-b", "rk-c"], 4);
    const s = await reloadStatus((x) => x.token === "t3" && x.state !== "Reloading", "the t3 reload done");
    assert.equal(s.state, "Reloaded", s.message);
    assert.equal(s.startTime, first.startTime, "the new operator kept the reload's start");
    assert.deepEqual(s.reloadedPods, ["rk-a", "rk-b", "rk-c"]);
  });

  it("refuses a token over 256 characters; a Pod that cannot take the annotation is named, not retried, and the others reload", async () => {
    const long = Date.now() - 120_000;
    const huge = "x".repeat(300);
    await c.kubectlOk(["-n", NS, "annotate", "--overwrite", "plugin", PLUGIN, `podplug.io/reload=${huge}`]);
    const refused = await reloadStatus((x) => x.token.startsWith("xxxx"), "the long token refused");
    assert.equal(refused.state, "Halted");
    assert.match(refused.message, /is 300 characters, more than 256: no pod was reloaded/);
    assert.ok(!(await annotated()).some((a) => a.includes("xxx")));
    // A Pod whose annotations are at the apiserver's 256 KiB limit: one more is refused (422).
    const big = pod("rk-big");
    (big.metadata as { annotations?: Record<string, string> }).annotations = {
      big: "y".repeat(262_144 - "big".length - "podplug.io/plugins".length - PLUGIN.length - 10),
    };
    await c.kubectlOk(["create", "-f", "-"], yaml(big));
    for (const n of ["rk-a", "rk-b", "rk-big", "rk-c"]) await setSidecar(n, sidecarStatus(long, 5));
    await c.kubectlOk(["-n", NS, "annotate", "--overwrite", "plugin", PLUGIN, "podplug.io/reload=t4"]);
    // rk-big comes after rk-b by name and is refused by the apiserver: rk-c follows anyway.
    await kubeletReloads("t4", ["rk-a", "rk-b", "rk-c"], 6);
    const s = await reloadStatus((x) => x.token === "t4" && x.state !== "Reloading", "the t4 reload done");
    assert.equal(s.state, "Reloaded", s.message);
    assert.deepEqual(s.reloadedPods, ["rk-a", "rk-b", "rk-c"]);
    assert.deepEqual(
      s.failedPods.map((f) => `${f.name}/${f.reason}`),
      ["rk-big/AnnotateFailed", "rk-old/NotReloadable"],
    );
    assert.match(s.failedPods[0]!.message, /could not be set: .*HTTP 422/);
    assert.equal((await getPod("rk-big")).metadata?.annotations?.[POD_ANNOTATION], undefined);
    // Asked once: the operator's log has one refused annotation for rk-big, not one per pass.
    const { readFileSync } = await import("node:fs");
    const refusals = readFileSync(op!.proc.logFile, "utf8")
      .split("\n")
      .filter((l) => l.includes('"reload: annotate failed"') && l.includes('"pod":"rk-big"'));
    assert.equal(refusals.length, 1, refusals.join("\n"));
  });
});

describe("cluster reload's pure parts", () => {
  const withAnnotations = (a?: Record<string, string>): Plugin => {
    const p = pluginManifest(PLUGIN, { command: ["/plugin"] }) as unknown as Plugin;
    return { ...p, metadata: { ...p.metadata, ...(a ? { annotations: a } : {}) } };
  };
  const injected = (
    name: string,
    opts: { annotation?: string; status?: V1ContainerStatus; env?: boolean } = {},
  ): V1Pod => ({
    metadata: { name, uid: name, ...(opts.annotation ? { annotations: { [POD_ANNOTATION]: opts.annotation } } : {}) },
    spec: {
      containers: [{ name: "host" }],
      initContainers: [
        {
          name: SIDECAR,
          ...(opts.env === false ? {} : { env: [{ name: "PODPLUG_RELOAD_FILE", value: `/podplug/reload/${PLUGIN}` }] }),
        },
      ],
    },
    status: { phase: "Running", ...(opts.status ? { initContainerStatuses: [opts.status] } : {}) },
  });

  it("reads the token: absent, blank and padded values", () => {
    assert.equal(reloadToken(withAnnotations()), undefined);
    assert.equal(reloadToken(withAnnotations({ "podplug.io/reload": "  " })), undefined);
    assert.equal(
      reloadToken(withAnnotations({ "podplug.io/reload": " 2026-12-01T19:00:00Z " })),
      "2026-12-01T19:00:00Z",
    );
  });

  it("podReloadState: absent, unreachable, pending, reloading, done, failed and overdue", () => {
    const start = Date.parse("2026-12-01T19:00:00Z");
    const st = (p: V1Pod, now = start + 1000, patched?: number) =>
      podReloadState(p, PLUGIN, "t", start, 10_000, now, patched).state;
    assert.equal(st({ metadata: { name: "x" }, spec: { containers: [{ name: "host" }] } }), "absent");
    assert.equal(st(injected("a", { env: false })), "unreachable");
    assert.equal(st(injected("a", { status: sidecarStatus(start - 60_000, 0) })), "pending");
    assert.equal(st(injected("a", { annotation: "old", status: sidecarStatus(start - 60_000, 0) })), "pending");
    assert.equal(st(injected("a", { annotation: "t", status: sidecarStatus(start - 60_000, 0) })), "reloading");
    assert.equal(st(injected("a", { annotation: "t", status: sidecarStatus(start + 500, 1) })), "done");
    // A sidecar started since the reload was asked is done even without the annotation (a new Pod).
    assert.equal(st(injected("a", { status: sidecarStatus(start + 2000, 0) })), "done");
    assert.equal(st(injected("a", { annotation: "t", status: sidecarStatus(start, 1, "CrashLoopBackOff") })), "failed");
    const late = podReloadState(injected("a", { annotation: "t" }), PLUGIN, "t", start, 10_000, start + 11_000);
    assert.equal(late.state, "failed");
    assert.match(late.state === "failed" ? late.message : "", /within 10 s \(no status\)/);
    // The deadline runs from the Pod's own annotation time when known.
    assert.equal(st(injected("a", { annotation: "t" }), start + 11_000, start + 5000), "reloading");
  });

  it("planReload paces by maxInFlight, skips finished and deleted pods, and halts on a failure", () => {
    const p = withAnnotations({ "podplug.io/reload": "t" });
    const states: Record<string, ReturnType<typeof podReloadState>> = {
      a: { state: "done" },
      b: { state: "reloading" },
      c: { state: "pending" },
      d: { state: "pending" },
      e: { state: "pending" },
      f: { state: "unreachable", message: "m" },
    };
    const pods = Object.keys(states).map((n) => injected(n));
    pods.push({ ...injected("g"), status: { phase: "Succeeded" } });
    pods.push({ ...injected("h"), metadata: { name: "h", deletionTimestamp: new Date() } });
    const look = (q: V1Pod) => states[q.metadata!.name!] ?? { state: "pending" as const };
    let plan = planReload(p, "t", pods, 3, look);
    assert.deepEqual(plan.patch, ["c", "d"]);
    assert.equal(plan.status.state, "Reloading");
    assert.equal(plan.status.podCount, 6);
    assert.match(plan.status.message, /1 of 6 pod\(s\) reloaded, 1 reloading, 3 waiting, 1 failed/);
    assert.deepEqual(planReload(p, "t", pods, 1, look).patch, []);
    states.b = { state: "failed", reason: "CrashLoopBackOff", message: "x" };
    plan = planReload(p, "t", pods, 3, look);
    assert.deepEqual(plan.patch, []);
    assert.equal(plan.status.state, "Halted");
    assert.deepEqual(
      plan.status.failedPods.map((f) => f.name),
      ["b", "f"],
    );
    for (const n of ["b", "c", "d", "e"]) states[n] = { state: "done" };
    plan = planReload(p, "t", pods, 3, look);
    assert.equal(plan.status.state, "Reloaded");
    assert.deepEqual(plan.status.reloadedPods, ["a", "b", "c", "d", "e"]);
  });
});
