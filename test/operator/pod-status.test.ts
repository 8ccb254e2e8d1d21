/**
 * Why an injected workload is not ready (operator/pod-status.ts), from pods
 * shaped as the kubelet and scheduler report them, and readiness from the
 * rollout (an old ReplicaSet's ready pod does not make a workload ready).
 */
import assert from "node:assert/strict";
import { type Pod, podProblems, sameProblems, trimPod, workloadProblem } from "../../operator/pod-status.ts";
import { computeStatus } from "../../operator/status.ts";
import { workloadReady } from "../../operator/workloads.ts";
import type { Plugin } from "../../src/inject/types.ts";

function pod(status: Record<string, unknown>, meta: Record<string, unknown> = {}): Pod {
  return {
    metadata: {
      name: "web-5d8f-abcde",
      namespace: "n",
      resourceVersion: "7",
      labels: { app: "web", "pod-template-hash": "5d8f" },
      annotations: { "podplug.io/plugins": "kv,counter", "kubectl.kubernetes.io/x": "y" },
      ownerReferences: [{ kind: "ReplicaSet", name: "web-5d8f", controller: true }],
      ...meta,
    },
    spec: { containers: [{ name: "host", image: "h" }] },
    status,
  } as unknown as Pod;
}

const waiting = (name: string, image: string, reason: string, message = "") => ({
  name,
  image,
  ready: false,
  restartCount: 0,
  state: { waiting: { reason, message } },
});

describe("operator pod status", () => {
  it("keeps only the workload, the plugins, the problems, liveness and readiness of a pod", () => {
    const t = trimPod(pod({ phase: "Running", containerStatuses: [{ name: "host", ready: true, state: {} }] }));
    assert.deepEqual(t, {
      metadata: { name: "web-5d8f-abcde", namespace: "n", resourceVersion: "7" },
      workload: "Deployment/web",
      plugins: ["kv", "counter"],
      live: true,
    });
    const ready = trimPod(pod({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] }));
    assert.equal(ready.ready, true);
    assert.equal(trimPod(pod({ phase: "Succeeded" })).live, undefined);
    assert.equal(trimPod(pod({}, { deletionTimestamp: "2026-01-01T00:00:00Z" })).live, undefined);
    const sts = trimPod(pod({}, { ownerReferences: [{ kind: "StatefulSet", name: "db", controller: true }] }));
    assert.equal(sts.workload, "StatefulSet/db");
    // A ReplicaSet whose name does not end in the pod's hash is not a Deployment's: it is itself.
    const rs = trimPod(pod({}, { labels: {}, ownerReferences: [{ kind: "ReplicaSet", name: "rs" }] }));
    assert.equal(rs.workload, "ReplicaSet/rs");
    assert.equal(trimPod(pod({}, { ownerReferences: [{ kind: "Job", name: "j" }] })).workload, "Job/j");
    // A Pod without a controller is its own workload.
    assert.equal(trimPod(pod({}, { labels: {}, ownerReferences: [] })).workload, "Pod/web-5d8f-abcde");
  });

  it("an image the node cannot get: ImagePullFailed naming container and image", () => {
    const [p, ...rest] = podProblems(
      pod({
        initContainerStatuses: [
          waiting("podplug-kv", "localhost/podplug/absent:1", "ErrImagePull", "failed to pull: not found"),
        ],
      }) as never,
    );
    assert.equal(rest.length, 0);
    assert.equal(p!.reason, "ImagePullFailed");
    assert.equal(p!.container, "podplug-kv");
    assert.match(p!.message, /container podplug-kv cannot get image localhost\/podplug\/absent:1/);
    assert.match(p!.detail!, /ErrImagePull: failed to pull: not found/);
    // The retry's back-off changes the kubelet's words, not the message.
    const [q] = podProblems(
      pod({
        initContainerStatuses: [waiting("podplug-kv", "localhost/podplug/absent:1", "ImagePullBackOff")],
      }) as never,
    );
    assert.equal(q!.message, p!.message);
  });

  it("a container that cannot start or keeps exiting: PluginCrashing with the last exit", () => {
    const [p] = podProblems(
      pod({
        initContainerStatuses: [
          {
            name: "podplug-kv",
            image: "i",
            ready: false,
            restartCount: 3,
            state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s" } },
            lastState: { terminated: { reason: "StartError", exitCode: 128, message: "exec: no such file" } },
          },
        ],
      }) as never,
    );
    assert.equal(p!.reason, "PluginCrashing");
    assert.match(p!.message, /container podplug-kv cannot start or keeps exiting \(last exit: StartError, code 128\)/);
    assert.equal(p!.detail, "exec: no such file");
    // A container that exited once and runs ready again is fine.
    assert.deepEqual(
      podProblems(
        pod({
          containerStatuses: [
            {
              name: "podplug-kv",
              image: "i",
              ready: true,
              restartCount: 1,
              state: { running: {} },
              lastState: { terminated: { exitCode: 137, reason: "Error" } },
            },
          ],
        }) as never,
      ),
      [],
    );
  });

  it("a pod the scheduler cannot place: Unschedulable with the scheduler's message; none for a deleted pod", () => {
    const status = {
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
        },
      ],
    };
    const [p] = podProblems(pod(status) as never);
    assert.equal(p!.reason, "Unschedulable");
    assert.match(p!.message, /node\(s\) didn't match/);
    assert.deepEqual(podProblems(pod(status, { deletionTimestamp: "2026-01-01T00:00:00Z" }) as never), []);
  });

  it("a Plugin's reason is its own container's, the launcher's (podplug) image or the pod's scheduling, in that precedence", () => {
    const pods = [
      trimPod(pod({ initContainerStatuses: [waiting("podplug-counter", "c", "ErrImagePull")] })),
      trimPod(pod({ initContainerStatuses: [waiting("host", "h", "CrashLoopBackOff")] })),
    ];
    // Another plugin's or the host's failure is not kv's reason.
    assert.equal(workloadProblem("kv", "Deployment", "web", pods), undefined);
    const agent = trimPod(pod({ initContainerStatuses: [waiting("podplug-launcher", "a:1", "ErrImagePull")] }));
    assert.equal(workloadProblem("kv", "Deployment", "web", [...pods, agent])?.reason, "ImagePullFailed");
    const sched = trimPod(
      pod({ conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "m" }] }),
    );
    // kv's standby sidecar crashing is kv's reason only when kv runs one (another Plugin may be named kv-standby).
    const spare = [trimPod(pod({ initContainerStatuses: [waiting("podplug-kv-standby", "k:1", "CrashLoopBackOff")] }))];
    assert.equal(workloadProblem("kv", "Deployment", "web", spare), undefined);
    assert.equal(workloadProblem("kv", "Deployment", "web", spare, true)?.reason, "PluginCrashing");
    const got = workloadProblem("kv", "Deployment", "web", [agent, sched]);
    assert.equal(got?.reason, "Unschedulable");
    assert.match(got!.message, /^Deployment web: a pod cannot be scheduled: m$/);
    assert.ok(
      sameProblems(
        agent,
        trimPod(pod({ initContainerStatuses: [waiting("podplug-launcher", "a:1", "ErrImagePull")] })),
      ),
    );
    assert.ok(!sameProblems(agent, sched));
  });

  it("the status takes a not-ready workload's pod reason over WorkloadsNotReady", () => {
    const p: Plugin = {
      apiVersion: "podplug.io/v1alpha1",
      kind: "Plugin",
      metadata: { name: "kv", namespace: "n", generation: 2 },
      spec: { image: "i", handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [1] } },
    } as Plugin;
    const problem = { reason: "ImagePullFailed", message: "Deployment web: container podplug-kv cannot get image i" };
    const s = computeStatus(p, [{ kind: "Deployment", name: "web", injected: true, ready: false, problem }], "T");
    const ready = s.conditions!.find((c) => c.type === "Ready")!;
    assert.deepEqual([ready.status, ready.reason, ready.message], ["False", "ImagePullFailed", problem.message]);
    // Ready workloads ignore stale problems.
    const ok = computeStatus(p, [{ kind: "Deployment", name: "web", injected: true, ready: true, problem }], "T");
    assert.equal(ok.conditions!.find((c) => c.type === "Ready")!.reason, "Ready");
  });

  it("a Deployment whose new ReplicaSet's pod is not ready is not ready, whatever the old one's pod says", () => {
    const w = (status: Record<string, number>) => ({
      metadata: { name: "web", namespace: "n", generation: 2 },
      spec: { replicas: 1 },
      status: { observedGeneration: 2, ...status },
    });
    // The old pod still runs and is ready; the new one is created (updated) but not available.
    assert.equal(
      workloadReady("Deployment", w({ replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 })),
      false,
    );
    assert.equal(
      workloadReady("Deployment", w({ replicas: 1, updatedReplicas: 1, readyReplicas: 0, availableReplicas: 0 })),
      false,
    );
    assert.equal(
      workloadReady("Deployment", w({ replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 })),
      true,
    );
  });
});
