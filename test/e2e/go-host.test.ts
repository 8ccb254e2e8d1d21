/**
 * A Go host through sdk/go with a TypeScript plugin in a real pod (issue 10):
 * examples/go-host beside the TS kv plugin's native sidecar under the
 * restricted Pod Security Standard; a kubelet process restart leaves the pod
 * running and the host calling; SIGKILL of the plugin restarts only it and the
 * Go host re-attaches; the Go host's pod is Ready exactly while it can use
 * its plugin (sdk/go's host state file, read by the injected readiness
 * probe). Containers are found by the plugin's name, whatever else the
 * injection adds. Runs on any cluster (docs/e2e.md).
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { imageRef } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { ensureOperator, pod, status } from "./demo.ts";
import {
  goCallSucceedsAfter,
  goCalls,
  goHost,
  goHostPlugin,
  goHostPods,
  goOutageAfter,
  KV_CONTAINER,
  restarts,
} from "./go-host.ts";
import { freshNamespace } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const NS = "podplug-e2e-gohost";
/** The Go host and its kv plugin, for host readiness: a plugin the kubelet leaves stopped for a while. */
const READY_NS = "podplug-e2e-gohost-ready";

/** The messages of `ns`'s Events about pod `name`. */
async function podEvents(c: E2ECluster, ns: string, name: string): Promise<string> {
  return kubectlOk(c, [
    "-n",
    ns,
    "get",
    "events",
    "--field-selector",
    `involvedObject.name=${name}`,
    "-o",
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
}

/** kubectl get plugin kv's READY column (readyWorkloadCount) in `ns`. */
async function pluginReady(c: E2ECluster, ns: string): Promise<number> {
  const p = JSON.parse(await kubectlOk(c, ["-n", ns, "get", "plugin", "kv", "-o", "json"])) as {
    status?: { readyWorkloadCount?: number };
  };
  return p.status?.readyWorkloadCount ?? 0;
}

describe("e2e: a Go host (sdk/go) with a TS plugin on a real node", function () {
  this.timeout(300_000);

  before(async () => {
    const c = await cluster();
    for (const name of ["podplug", "example-kv", "example-go-host"]) imageRef(c.images, `ghcr.io/podplug/${name}:`);
    await ensureOperator(c);
    await Promise.all(
      [NS, READY_NS].map((ns) => freshNamespace(c, ns, { "pod-security.kubernetes.io/enforce": "restricted" })),
    );
    // A liveness probe the kubelet needs 2 min to fail: the hang below is the host's to see, not the kubelet's to end.
    await kubectlOk(
      c,
      ["-n", READY_NS, "apply", "-f", "-"],
      goHostPlugin({ periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 12 }),
    );
    const host = parse(goHost(1, "250ms")) as {
      spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
    };
    host.spec.template.spec.containers[0]!.env.push({ name: "GO_HOST_CALL_TIMEOUT", value: "1s" });
    await kubectlOk(c, ["-n", READY_NS, "apply", "-f", "-"], stringify(host));
  });

  it("the Go host's calls to the TS kv sidecar succeed, in a pod the restricted standard admits", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], goHostPlugin());
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], goHost(1, "250ms"));
    await kubectlOk(c, ["-n", NS, "rollout", "status", "deployment/go-host", "--timeout=120s"], undefined, 130_000);
    const [p] = await goHostPods(c, NS, 1);
    assert.ok(p);
    assert.ok(
      (p.spec.initContainers ?? []).some((x) => x.name === KV_CONTAINER),
      "the kv plugin is a native sidecar",
    );
    const ok = await goCallSucceedsAfter(c, NS, p.metadata.name, 0);
    assert.equal(ok.value, `${ok.tick}\n\nWritten from plugin-ts-grpc`, "the TS plugin returns what the Go host put");
    const attached = await kubectlOk(c, ["-n", NS, "logs", p.metadata.name, "-c", "host"]);
    assert.match(attached, /"msg":"attached","plugin":"kv","addr":"\/var\/run\/podplug\/kv\/plugin.sock"/);
  });

  it("a kubelet process restart: the pod keeps running (no container restarts, the same containers) and the Go host keeps calling", async () => {
    const c = await cluster();
    const [p] = await goHostPods(c, NS, 1);
    assert.ok(p);
    const before = restarts(p);
    await c.restartKubelet(p.spec.nodeName);
    // The new kubelet is up once it renews the node's Lease (after its start: the old one is gone); then it
    // has re-read its pods.
    const t0 = Date.now();
    await waitFor(
      "the restarted kubelet to renew its node Lease",
      async () => {
        const r = await c.kubectl([
          "-n",
          "kube-node-lease",
          "get",
          "lease",
          p.spec.nodeName,
          "-o",
          "jsonpath={.spec.renewTime}",
        ]);
        return r.code === 0 && Date.parse(r.stdout) > t0;
      },
      90_000,
      250,
    );
    // Calls carried on through the restart and after it: ten successful calls logged after the kubelet was back.
    const back = Date.now();
    await waitFor(
      "ten successful Go host calls after the kubelet restart",
      async () => (await goCalls(c, NS, p.metadata.name)).filter((k) => k.time > back && k.ok).length >= 10,
      60_000,
      500,
    );
    const after = restarts(await pod(c, NS, p.metadata.name));
    assert.deepEqual(after, before, "no container restarted or was replaced");
  });

  it("SIGKILL of the TS plugin (after the kubelet restart): only it restarts and the Go host re-attaches, its calls succeed again", async () => {
    const c = await cluster();
    const [p] = await goHostPods(c, NS, 1);
    assert.ok(p);
    const before = restarts(p);
    const kv = before[KV_CONTAINER];
    assert.ok(kv?.containerID);
    const t0 = Date.now();
    await c.signalContainer(p.spec.nodeName, kv.containerID, "SIGKILL");
    const q = await waitFor(
      `${KV_CONTAINER} to restart`,
      async () => {
        const r = await pod(c, NS, p.metadata.name);
        const s = status(r, KV_CONTAINER);
        return s.restartCount > kv.restartCount && s.ready ? r : undefined;
      },
      60_000,
      250,
    );
    const after = restarts(q);
    for (const [name, s] of Object.entries(before))
      if (name !== KV_CONTAINER) assert.deepEqual(after[name], s, `${name} did not restart`);
    // The host saw the plugin go (a failed call after the kill was sent) and calls succeed after that.
    await goOutageAfter(c, NS, p.metadata.name, t0);
    const log = await kubectlOk(c, ["-n", NS, "logs", p.metadata.name, "-c", "host"]);
    assert.match(log, /"msg":"plugin went away"/);
    assert.equal((log.match(/"msg":"attached"/g) ?? []).length >= 2, true, "the Go host attached again");
  });

  it("host readiness (sdk/go's host state file): the Go host's pod is not Ready while its calls to a stopped plugin fail (CALLS_FAILING), Ready again once they succeed, with no container restarted", async () => {
    const c = await cluster();
    const [p] = await goHostPods(c, READY_NS, 1);
    assert.ok(p);
    const spec = JSON.parse(await kubectlOk(c, ["-n", READY_NS, "get", "pod", p.metadata.name, "-o", "json"])) as {
      spec: { containers: { name: string; readinessProbe?: { exec?: { command: string[] } } }[] };
    };
    const probe = spec.spec.containers.find((x) => x.name === "host")?.readinessProbe?.exec?.command ?? [];
    assert.deepEqual(probe.slice(1), ["ready", "kv"], "the injected host readiness probe covers kv");
    await goCallSucceedsAfter(c, READY_NS, p.metadata.name, 0);
    await waitFor(
      "kubectl get plugin kv to show READY 1",
      async () => (await pluginReady(c, READY_NS)) === 1,
      90_000,
      500,
    );
    const before = restarts(p);
    const kv = before[KV_CONTAINER];
    assert.ok(kv?.containerID);
    const t0 = Date.now();
    await c.signalContainer(p.spec.nodeName, kv.containerID, "SIGSTOP");
    try {
      const events = await waitFor(
        "the Go host's pod not Ready, its readiness probe's Event saying CALLS_FAILING",
        async () => {
          const q = await pod(c, READY_NS, p.metadata.name);
          if (status(q, "host").ready) return undefined;
          const e = await podEvents(c, READY_NS, p.metadata.name);
          return /Readiness probe failed:.*plugin kv: the host is failing \(CALLS_FAILING\)/.test(e) ? e : undefined;
        },
        90_000,
        500,
      );
      assert.match(events, /the last \d+ calls to plugin kv failed; the last: DEADLINE_EXCEEDED/);
      await waitFor(
        "kubectl get plugin kv to show READY 0",
        async () => (await pluginReady(c, READY_NS)) === 0,
        90_000,
        500,
      );
      const failed = (await goCalls(c, READY_NS, p.metadata.name)).filter((k) => k.time > t0 && !k.ok);
      assert.ok(failed.length >= 3, "the host's calls failed while the plugin was stopped");
    } finally {
      await c.signalContainer(p.spec.nodeName, kv.containerID, "SIGCONT");
    }
    const t1 = Date.now();
    await goCallSucceedsAfter(c, READY_NS, p.metadata.name, t1);
    await waitFor(
      "the Go host's pod Ready again",
      async () => status(await pod(c, READY_NS, p.metadata.name), "host").ready,
      90_000,
      500,
    );
    await waitFor(
      "kubectl get plugin kv to show READY 1 again",
      async () => (await pluginReady(c, READY_NS)) === 1,
      90_000,
      500,
    );
    assert.deepEqual(
      restarts(await pod(c, READY_NS, p.metadata.name)),
      before,
      "the same containers: nothing restarted",
    );
  });

  after(async () => {
    const c = await cluster();
    await c.kubectl(["delete", "namespace", NS, "--wait=false"]);
    await c.kubectl(["delete", "namespace", READY_NS, "--wait=false"]);
  });
});
