/**
 * A plugin container that stops on a contract error writes `<CODE>: <sentence>`
 * as its termination message (serve(), the launcher); the kubelet puts it in
 * the container's `state/lastState.terminated.message`, and the operator turns
 * it into the Plugin's Ready reason (ProtocolVersionMismatch for the version
 * codes, PluginFailed for the others) and one Warning Event carrying it. Here
 * on the real apiserver: Pods created from the injected template, their status
 * subresource patched as a kubelet patches it.
 */
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { codedMessage, INJECTED_LABEL, podProblems } from "../../operator/pod-status.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import { getJson, hostDeployment, initNames, pluginManifest, useNamespace, waitTemplate, yaml } from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "termination-test";
const REFUSAL =
  "HANDSHAKE_APP_VERSION: Incompatible API version with plugin. Plugin version: 1, Client versions: [2 3]. This plugin serves [1], none of the PLUGIN_PROTOCOL_VERSIONS it was given: serve one of them, or list the versions it serves in the Plugin's spec.handshake.protocolVersions.";

interface PluginView {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
}
interface EventView {
  type: string;
  reason: string;
  message: string;
}

/** A Pod of Deployment `deploy` from its injected template, as its ReplicaSet would create it. */
async function createPod(c: TestCluster, deploy: string, name: string): Promise<void> {
  const t = await waitTemplate(c, NS, deploy, `${deploy} injected`, (x) => initNames(x).length > 1);
  const hash = "5d8f9c";
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: { ...t.metadata?.labels, "pod-template-hash": hash },
      annotations: (t.metadata as { annotations?: Record<string, string> } | undefined)?.annotations,
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${deploy}-${hash}`,
          uid: "00000000-0000-4000-8000-000000000001",
          controller: true,
        },
      ],
    },
    spec: t.spec,
  };
  await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pod));
}

/** The kubelet's status patch: the plugin sidecar restarting after exit 1 with `message`. */
async function kubeletReports(c: TestCluster, pod: string, container: string, message: string, restarts: number) {
  const status = {
    status: {
      phase: "Pending",
      initContainerStatuses: [
        {
          name: container,
          image: "example/kv:1",
          imageID: "",
          ready: false,
          started: false,
          restartCount: restarts,
          state: {
            waiting: { reason: "CrashLoopBackOff", message: `back-off ${10 * restarts}s restarting failed container` },
          },
          lastState: {
            terminated: {
              exitCode: 1,
              reason: "Error",
              message,
              startedAt: "2026-01-01T00:00:00Z",
              finishedAt: "2026-01-01T00:00:01Z",
            },
          },
        },
      ],
    },
  };
  await c.kubectlOk([
    "patch",
    "-n",
    NS,
    "pod",
    pod,
    "--subresource=status",
    "--type=strategic",
    "-p",
    JSON.stringify(status),
  ]);
}

const readyOf = async (c: TestCluster, plugin: string) =>
  (await getJson<PluginView>(c, ["-n", NS, "plugin", plugin]))?.status?.conditions?.find((x) => x.type === "Ready");

const warnings = async (c: TestCluster, plugin: string): Promise<EventView[]> =>
  (
    await getJson<{ items: EventView[] }>(c, [
      "-n",
      NS,
      "events",
      "--field-selector",
      `involvedObject.name=${plugin},type=Warning`,
    ])
  )?.items ?? [];

describe("a plugin's coded termination message in the Plugin's status and Events (real apiserver)", function () {
  this.timeout(120_000);
  const fx = useNamespace(cluster, NS, { operatorArgs: ["--launcher-image=podplug-agent:test"] });
  let c: TestCluster;
  before(() => {
    c = fx.cluster();
  });

  it("reads the code of a native sidecar's last termination from the Pod the apiserver returns", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("unit", {
          selector: { matchLabels: { "podplug.io/host": "unit" } },
          handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [2, 3] },
        }),
        hostDeployment("unit-host", { "podplug.io/host": "unit" }),
      ),
    );
    await createPod(c, "unit-host", "unit-pod");
    const read = async () => {
      const pod = await getJson<V1Pod>(c, ["-n", NS, "pod", "unit-pod"]);
      assert.equal(pod?.metadata?.labels?.[INJECTED_LABEL], "true", "the pod carries the label the operator watches");
      return podProblems(pod!);
    };
    await kubeletReports(c, "unit-pod", "podplug-unit", REFUSAL, 2);
    const [p, ...rest] = await read();
    assert.equal(rest.length, 0);
    assert.equal(p!.reason, "ProtocolVersionMismatch");
    assert.equal(p!.container, "podplug-unit");
    assert.equal(p!.message, `container podplug-unit stopped with ${REFUSAL}`);

    // Another code: PluginFailed, with the code in the message.
    await kubeletReports(
      c,
      "unit-pod",
      "podplug-unit",
      "HANDSHAKE_COOKIE: BASIC_PLUGIN is not this plugin's magic cookie",
      3,
    );
    const [q] = await read();
    assert.equal(q!.reason, "PluginFailed");
    assert.match(q!.message, /stopped with HANDSHAKE_COOKIE: BASIC_PLUGIN is not/);

    // No code (a panic, a lowercase or one-word prefix, an empty message): the plain crash reason.
    for (const m of ["panic: runtime error", "handshake_app_version: x", "ERROR: disk full", "", "CODE_X:"]) {
      await kubeletReports(c, "unit-pod", "podplug-unit", m, 4);
      const [r] = await read();
      assert.equal(r!.reason, "PluginCrashing", `message ${JSON.stringify(m)}`);
    }
  });

  it("parses `<CODE>: <sentence>` and nothing else", () => {
    assert.deepEqual(codedMessage("LAUNCHER_APP_VERSION: the plugin serves 1"), {
      code: "LAUNCHER_APP_VERSION",
      sentence: "the plugin serves 1",
    });
    assert.deepEqual(codedMessage("HANDSHAKE_APP_VERSION: two\nlines\n"), {
      code: "HANDSHAKE_APP_VERSION",
      sentence: "two\nlines",
    });
    for (const bad of [undefined, "", "X: y", "_A_B: y", "A_B:y", "A_B: ", "A-B: y", " a_b: y", "A_B_: y"])
      assert.equal(codedMessage(bad), undefined, JSON.stringify(bad));
  });

  it("a plugin refusing the offered versions: Ready False ProtocolVersionMismatch and one Warning Event with its message", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("kv", {
          handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [2, 3] },
        }),
        hostDeployment("kv-host", { "podplug.io/host": "kv" }),
      ),
    );
    await createPod(c, "kv-host", "kv-pod");
    await kubeletReports(c, "kv-pod", "podplug-kv", REFUSAL, 1);
    const ready = await waitFor("Ready False ProtocolVersionMismatch", async () => {
      const r = await readyOf(c, "kv");
      return r?.reason === "ProtocolVersionMismatch" ? r : undefined;
    });
    assert.equal(ready.status, "False");
    assert.equal(ready.message, `Deployment kv-host: container podplug-kv stopped with ${REFUSAL}`);
    const ev = await waitFor("the Warning Event", async () => {
      const l = (await warnings(c, "kv")).filter((e) => e.reason === "ProtocolVersionMismatch");
      return l.length > 0 ? l : undefined;
    });
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.message, ready.message);

    // The kubelet's next restarts change the back-off and the count, not the message: no second Event.
    await kubeletReports(c, "kv-pod", "podplug-kv", REFUSAL, 2);
    await kubeletReports(c, "kv-pod", "podplug-kv", REFUSAL, 3);
    // A status change that does cause an Event on the same Plugin marks when the operator has caught up.
    await kubeletReports(c, "kv-pod", "podplug-kv", "LAUNCHER_START_FAILED: exec /plugin: no such file", 4);
    await waitFor("Ready PluginFailed", async () => (await readyOf(c, "kv"))?.reason === "PluginFailed");
    await waitFor("the PluginFailed Event", async () =>
      (await warnings(c, "kv")).some((e) => e.reason === "PluginFailed" && /LAUNCHER_START_FAILED/.test(e.message)),
    );
    const all = await warnings(c, "kv");
    assert.equal(all.filter((e) => e.reason === "ProtocolVersionMismatch").length, 1, JSON.stringify(all));
  });
});
