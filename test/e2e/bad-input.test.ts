/**
 * Bad input on a real node (issue 10): each shows in the Plugin's status
 * conditions and Events with a precise reason, and the operator keeps
 * reconciling the other Plugins. The reasons are the contract the operator
 * must implement (see the report on branch h/node-bad-input):
 *   ImagePullFailed   a plugin (or the launcher's podplug) image the node cannot get
 *   PluginCrashing    a plugin container that cannot start or keeps exiting
 *   ProtocolVersionMismatch  a plugin that serves none of the Plugin's protocol versions
 *   Unschedulable     a selected workload's pods cannot be scheduled
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { ensureOperator, REPO, SYSTEM } from "./demo.ts";
import { freshNamespace, sleepingHost } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const NS = "podplug-e2e-bad";

/** A Plugin; without `command` the image's entrypoint runs (the kv image's plugin). */
function plugin(name: string, app: string, image: string, command?: string[], versions = [1]): string {
  return stringify({
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name },
    spec: {
      image,
      ...(command ? { command } : {}),
      env: [{ name: "KV_DIR", value: `/var/run/podplug/${name}` }],
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: versions },
      selector: { matchLabels: { app } },
      // The sleeping hosts use no host SDK: they write no host state, so their readiness is their own.
      hostReadiness: false,
    },
  });
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/** Waits for Plugin `name`'s Ready condition to be False with `reason`, and a Warning Event with that reason. */
async function failsWith(c: E2ECluster, name: string, reason: string, message: RegExp): Promise<Condition> {
  const cond = await waitFor(
    `Plugin ${name} Ready=False reason ${reason}`,
    async () => {
      const out = await kubectlOk(c, ["-n", NS, "get", "plugin", name, "-o", "jsonpath={.status.conditions}"]);
      const ready = (out ? (JSON.parse(out) as Condition[]) : []).find((k) => k.type === "Ready");
      if (ready?.status === "False" && ready.reason === reason) return ready;
      // Thrown, so the timeout says what the operator reports instead.
      throw new Error(`Ready is ${ready ? `${ready.status} reason ${ready.reason}: ${ready.message}` : "absent"}`);
    },
    120_000,
    500,
  );
  assert.match(cond.message, message);
  const events = await kubectlOk(c, [
    "-n",
    NS,
    "get",
    "events",
    "--field-selector",
    `involvedObject.kind=Plugin,involvedObject.name=${name},type=Warning`,
    "-o",
    'jsonpath={range .items[*]}{.reason}{"\\t"}{.message}{"\\n"}{end}',
  ]);
  // One of that reason, carrying the status's message (and the kubelet's or plugin's words after it).
  const carried = events
    .split("\n")
    .some((l) => l.startsWith(`${reason}\t`) && l.slice(reason.length + 1).startsWith(cond.message));
  assert.ok(carried, `Warning Events of Plugin ${name}:\n${events}`);
  return cond;
}

const KV_IMAGE = "ghcr.io/podplug/example-kv:0.1.0";

describe("e2e: bad input shows in the Plugin's status and Events", function () {
  this.timeout(300_000);

  before(async () => {
    const c = await cluster();
    await ensureOperator(c);
    await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
    // A good Plugin beside the bad ones: it must become Ready whatever the others do.
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "good"));
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("good", "good", KV_IMAGE));
  });

  it("an image that is not on the node: ImagePullFailed, naming the image", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "noimage"));
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("noimage", "noimage", "localhost/podplug/absent:1"));
    await failsWith(c, "noimage", "ImagePullFailed", /localhost\/podplug\/absent:1/);
  });

  it("a wrong command: PluginFailed with the launcher's LAUNCHER_START_FAILED, naming the container", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "badcmd"));
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("badcmd", "badcmd", KV_IMAGE, ["/no/such/binary"]));
    // The launcher cannot start the command: its coded termination message names it (exit 127).
    await failsWith(
      c,
      "badcmd",
      "PluginFailed",
      /container podplug-badcmd stopped with LAUNCHER_START_FAILED: .*\/no\/such\/binary/,
    );
  });

  it("a plugin offered versions it does not serve: ProtocolVersionMismatch, with the plugin's own words", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "badversion"));
    // The kv image serves protocol version 1 only; serve() refuses [2, 3] and writes its termination message.
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("badversion", "badversion", KV_IMAGE, undefined, [2, 3]));
    await failsWith(
      c,
      "badversion",
      "ProtocolVersionMismatch",
      /container podplug-badversion stopped with HANDSHAKE_APP_VERSION: Incompatible API version with plugin\. Plugin version: 1, Client versions: \[2 3\]/,
    );
  });

  it("a pod that cannot schedule: Unschedulable, with the scheduler's reason", async () => {
    const c = await cluster();
    await kubectlOk(
      c,
      ["-n", NS, "apply", "-f", "-"],
      sleepingHost(c, "nowhere", { nodeSelector: { "podplug.io/e2e": "no-such-node" } }),
    );
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("nowhere", "nowhere", KV_IMAGE));
    await failsWith(c, "nowhere", "Unschedulable", /node\(s\) didn't match/);
  });

  it("a node without the launcher's (podplug) image: ImagePullFailed, naming the image", async () => {
    const c = await cluster();
    const up = await c.helm(
      [
        "upgrade",
        "podplug",
        resolve(REPO, "charts/podplug"),
        "-n",
        SYSTEM,
        "--reuse-values",
        "--set",
        "launcherImage=localhost/podplug/absent-launcher:1",
        "--wait",
      ],
      150_000,
    );
    assert.equal(up.code, 0, up.stderr);
    try {
      await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "noagent"));
      await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], plugin("noagent", "noagent", KV_IMAGE));
      await failsWith(c, "noagent", "ImagePullFailed", /localhost\/podplug\/absent-launcher:1/);
    } finally {
      await c.helm(
        [
          "upgrade",
          "podplug",
          resolve(REPO, "charts/podplug"),
          "-n",
          SYSTEM,
          "--reuse-values",
          "--set",
          "launcherImage=",
          "--wait",
        ],
        150_000,
      );
    }
  });

  it("the operator kept reconciling the good Plugin meanwhile", async () => {
    const c = await cluster();
    await waitFor(
      "Plugin good Ready",
      async () =>
        (await kubectlOk(c, [
          "-n",
          NS,
          "get",
          "plugin",
          "good",
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === "True",
      120_000,
      500,
    );
  });
});
