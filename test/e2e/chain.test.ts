/**
 * The chain on a real node (issue 10): the chart's operator as pods, the demo
 * host with the kv and counter Plugins injected as native sidecars run by
 * podplug-launcher (no agent), under the restricted Pod Security Standard; crash and hang recovery
 * by the kubelet; Plugin removal. Runs on any cluster (docs/e2e.md).
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { parse, stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { digestRef, imageRef } from "../node/images.ts";
import { kubectlOk } from "./cluster.ts";
import {
  callsSucceedAfter,
  demoPlugins,
  HOST_REPLICAS,
  hostPods,
  NS,
  pod,
  pods,
  REPO,
  restrictedHost,
  scrape,
  status,
  yamlOf,
} from "./demo.ts";
import { freshNamespace, sleepingHost } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const SYSTEM = "podplug-e2e-system";
/** The Go plugin case's namespace: its Plugin is named kv like the demo's TS one. */
const GO_NS = "podplug-e2e-go";
/** The pinned-digest case's namespace. */
const PIN_NS = "podplug-e2e-pinned";

describe("e2e: the chain on a real node", function () {
  this.timeout(300_000);

  before(async () => {
    const c = await cluster();
    // The chart's and the demo's images must have been loaded: say so rather than wait on ImagePullBackOff.
    for (const name of ["podplug", "example-kv", "example-counter", "example-demo-host"])
      imageRef(c.images, `ghcr.io/podplug/${name}:`);
    await c.helm(["uninstall", "podplug", "-n", SYSTEM, "--wait"]);
    await freshNamespace(c, SYSTEM);
    await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  });

  it("helm installs the chart: the operator runs as two pods with the chart's ServiceAccount, one leads, /metrics answers on the pod network", async () => {
    const c = await cluster();
    const r = await c.helm(
      ["install", "podplug", resolve(REPO, "charts/podplug"), "-n", SYSTEM, "--wait", "--timeout", "120s"],
      150_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const ops = await pods(c, SYSTEM, "app.kubernetes.io/name=podplug");
    assert.equal(ops.length, 2);
    for (const p of ops) assert.equal(status(p, p.spec.containers[0]?.name ?? "").ready, true);
    const sa = await kubectlOk(c, [
      "-n",
      SYSTEM,
      "get",
      "pods",
      "-l",
      "app.kubernetes.io/name=podplug",
      "-o",
      "jsonpath={.items[*].spec.serviceAccountName}",
    ]);
    assert.deepEqual(sa.split(" "), ["podplug", "podplug"]);
    const holder = await waitFor(
      "an operator to hold the leader Lease",
      async () => {
        const h = await c.kubectl(["-n", SYSTEM, "get", "lease", "podplug", "-o", "jsonpath={.spec.holderIdentity}"]);
        return h.code === 0 && h.stdout !== "" ? h.stdout : undefined;
      },
      60_000,
      250,
    );
    assert.ok(
      ops.some((p) => p.metadata.name === holder),
      `leader ${holder} is one of ${ops.map((p) => p.metadata.name)}`,
    );
    const leader = ops.find((p) => p.metadata.name === holder);
    const metrics = await scrape(c, SYSTEM, "scrape-operator", `http://${leader?.status.podIP}:8080/metrics`);
    assert.match(metrics, /^# TYPE \w+ \w+/m);
  });

  it("two replicas of the demo host call their two TS plugins over the shared socket, native sidecars under the launcher, under the restricted standard", async () => {
    const c = await cluster();
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(demoPlugins()));
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], restrictedHost());
    await kubectlOk(c, ["-n", NS, "rollout", "status", "deployment/demo-host", "--timeout=120s"], undefined, 130_000);
    const ps = await hostPods(c, ["podplug-kv", "podplug-counter"]);
    for (const p of ps) {
      assert.deepEqual((p.spec.initContainers ?? []).map((x) => x.name).sort(), [
        "podplug-counter",
        "podplug-kv",
        "podplug-launcher",
      ]);
      // The launcher's copy ran to completion; the host is Ready only through its injected host-readiness probe.
      const copy = (p.status.initContainerStatuses ?? []).find((x) => x.name === "podplug-launcher");
      assert.equal((copy?.state as { terminated?: { exitCode: number } } | undefined)?.terminated?.exitCode, 0);
      assert.equal(status(p, "host").ready, true);
      const tick = await callsSucceedAfter(c, p.metadata.name, 0, ["kv", "counter"]);
      assert.equal(tick.kv, String(tick.tick), "kv returns what the host put");
    }
    // READY comes from the pods' readiness, through the operator.
    await waitFor(
      "kubectl get plugins to show both Ready",
      async () => {
        const out = await kubectlOk(c, ["-n", NS, "get", "plugins", "-o", "json"]);
        const items = (JSON.parse(out) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] })
          .items;
        return (
          items.length === 2 &&
          items.every((i) => i.status?.conditions?.some((k) => k.type === "Ready" && k.status === "True"))
        );
      },
      60_000,
      500,
    );
  });

  it("the TS demo host calls the unmodified Go plugin image (go-plugin's examples/grpc) as its kv sidecar, at its exact version from the launcher, with no hint", async () => {
    const c = await cluster();
    const goImage = imageRef(c.images, "ghcr.io/podplug/example-go-kv:");
    await freshNamespace(c, GO_NS, { "pod-security.kubernetes.io/enforce": "restricted" });
    try {
      // The demo's Plugins, with kv served by the Go image's binary, which the Plugin names so the launcher runs it.
      // It writes kv_<key> into its working folder, so the Plugin points that at the sidecar's writable scratch, /tmp.
      // The Plugin allows 1 and 2: the plugin serves 1, and the host must attach at 1 (issue 11), never guess.
      const docs = demoPlugins();
      const kv = docs.find((d) => d.metadata.name === "kv")!;
      kv.spec.image = goImage;
      kv.spec.command = ["/grpc-plugin"];
      (kv.spec.handshake as { protocolVersions: number[] }).protocolVersions = [1, 2];
      delete kv.spec.env;
      kv.spec.workingDir = "/tmp";
      await kubectlOk(c, ["-n", GO_NS, "apply", "-f", "-"], yamlOf(docs));
      const host = parse(restrictedHost()) as {
        spec: { replicas: number; template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } };
      };
      host.spec.replicas = 1;
      await kubectlOk(c, ["-n", GO_NS, "apply", "-f", "-"], stringify(host));
      await kubectlOk(
        c,
        ["-n", GO_NS, "rollout", "status", "deployment/demo-host", "--timeout=120s"],
        undefined,
        130_000,
      );
      const list = JSON.parse(
        await kubectlOk(c, ["-n", GO_NS, "get", "pods", "-l", "app=demo-host", "-o", "json"]),
      ) as {
        items: {
          metadata: { name: string; deletionTimestamp?: string };
          spec: { initContainers?: { name: string; image: string }[] };
        }[];
      };
      const p = list.items.find((i) => !i.metadata.deletionTimestamp)!;
      assert.equal(p.spec.initContainers?.find((x) => x.name === "podplug-kv")?.image, goImage);
      // go-plugin's own handshake line on the sidecar's stdout (passed through by the launcher): version 1.
      const out = await kubectlOk(c, ["-n", GO_NS, "logs", p.metadata.name, "-c", "podplug-kv"]);
      assert.match(out, /^1\|1\|unix\|\/var\/run\/podplug\/kv\/plugin\d+\|grpc/m);
      // No KV_PROTOCOL_VERSION: the host attaches only through the handshake file the launcher wrote (it never
      // guesses a bare Go plugin's version), so the calls below succeeding is the launcher's announcement at work.
      const tick = await waitFor(
        "the TS host's calls to the Go kv plugin (and the TS counter) succeeding",
        async () => {
          const log = await kubectlOk(c, ["-n", GO_NS, "logs", p.metadata.name, "-c", "host", "--tail=50"]);
          return log
            .split("\n")
            .filter((l) => l.includes('"called both plugins"'))
            .map((l) => JSON.parse(l) as { tick: number; kv: string })
            .find((t) => t.kv !== undefined);
        },
        60_000,
        500,
      );
      // The Go plugin returns what the host put (its file holds the value, then its own note after a blank line).
      assert.equal(tick.kv, String(tick.tick));
    } finally {
      await c.kubectl(["delete", "namespace", GO_NS, "--wait=false"]);
    }
  });

  it("a Plugin pinned by digest (issue 11): the kubelet runs image@sha256, and the Plugin's status shows the digest its pod runs", async () => {
    const c = await cluster();
    const image = c.images.find((i) => i.ref === imageRef(c.images, "ghcr.io/podplug/example-go-kv:"))!;
    const pinned = digestRef(image);
    const digest = image.digest;
    assert.ok(pinned && digest, "images.json records the image's digest");
    await freshNamespace(c, PIN_NS, { "pod-security.kubernetes.io/enforce": "restricted" });
    try {
      const kv = demoPlugins().find((d) => d.metadata.name === "kv")!;
      kv.spec.image = pinned;
      kv.spec.command = ["/grpc-plugin"];
      kv.spec.selector = { matchLabels: { app: "pinned" } };
      delete kv.spec.env;
      kv.spec.workingDir = "/tmp";
      await kubectlOk(c, ["-n", PIN_NS, "apply", "-f", "-"], yamlOf([kv]));
      await kubectlOk(c, ["-n", PIN_NS, "apply", "-f", "-"], sleepingHost(c, "pinned"));
      const st = await waitFor(
        "the pinned Plugin's status to report the digest its pod runs",
        async () => {
          const v = JSON.parse(await kubectlOk(c, ["-n", PIN_NS, "get", "plugin", "kv", "-o", "json"])) as {
            status?: {
              imageDigest?: string;
              workloads?: { name: string; digests?: string[] }[];
              conditions?: { type: string; status: string; reason: string }[];
            };
          };
          return v.status?.workloads?.some((w) => (w.digests ?? []).length > 0) ? v.status : undefined;
        },
        120_000,
        500,
      );
      assert.equal(st.imageDigest, digest);
      assert.deepEqual(st.workloads?.find((w) => w.name === "pinned")?.digests, [digest], "from the pod's imageID");
      const cond = st.conditions?.find((k) => k.type === "ImageDigest");
      assert.deepEqual([cond?.status, cond?.reason], ["True", "PinnedDigestRunning"]);
    } finally {
      await c.kubectl(["delete", "namespace", PIN_NS, "--wait=false"]);
    }
  });

  it("SIGKILL of a plugin's process: the kubelet restarts only that container and the host's calls succeed again", async () => {
    const c = await cluster();
    const [p] = await hostPods(c, ["podplug-kv", "podplug-counter"]);
    assert.ok(p);
    const before = { kv: status(p, "podplug-kv"), host: status(p, "host"), counter: status(p, "podplug-counter") };
    assert.ok(before.kv.containerID);
    const t0 = Date.now();
    await c.signalContainer(p.spec.nodeName, before.kv.containerID, "SIGKILL");
    const after = await waitFor(
      "podplug-kv to restart",
      async () => {
        const q = await pod(c, NS, p.metadata.name);
        const s = status(q, "podplug-kv");
        return s.restartCount > before.kv.restartCount && s.ready ? q : undefined;
      },
      60_000,
      250,
    );
    assert.equal(status(after, "podplug-kv").restartCount, 1);
    assert.equal(status(after, "host").restartCount, before.host.restartCount, "the host did not restart");
    assert.equal(status(after, "podplug-counter").restartCount, before.counter.restartCount);
    await callsSucceedAfter(c, p.metadata.name, t0, ["kv", "counter"]);
  });

  it("SIGSTOP (a hung plugin): the launcher's exec probe fails, the kubelet restarts it, the host's calls succeed again", async () => {
    const c = await cluster();
    const [, p] = await hostPods(c, ["podplug-kv", "podplug-counter"]);
    assert.ok(p);
    const before = { counter: status(p, "podplug-counter"), host: status(p, "host") };
    assert.ok(before.counter.containerID);
    const t0 = Date.now();
    await c.signalContainer(p.spec.nodeName, before.counter.containerID, "SIGSTOP");
    const after = await waitFor(
      "podplug-counter to be restarted by its liveness probe",
      async () => {
        const q = await pod(c, NS, p.metadata.name);
        const s = status(q, "podplug-counter");
        return s.restartCount > before.counter.restartCount && s.ready ? q : undefined;
      },
      90_000,
      250,
    );
    assert.equal(status(after, "host").restartCount, before.host.restartCount, "the host did not restart");
    const events = await kubectlOk(c, [
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      `involvedObject.name=${p.metadata.name}`,
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(events, /Liveness probe failed/);
    // The exec probe's own reason reaches the event (an httpGet probe's body never did) when the probe ends
    // inside its 1 s: its check gives up at 800 ms, and runc's exec takes the rest, so a loaded node may show
    // the kubelet's "command timed out" for the probe instead.
    assert.match(events, /LAUNCHER_PROBE_FAILED|command timed out/);
    await callsSucceedAfter(c, p.metadata.name, t0, ["kv", "counter"]);
  });

  it("a Plugin update (env) reaches the running pods by a rolling update of the host's Deployment", async () => {
    const c = await cluster();
    await kubectlOk(c, [
      "-n",
      NS,
      "patch",
      "plugin",
      "kv",
      "--type=json",
      "-p",
      JSON.stringify([{ op: "add", path: "/spec/env/-", value: { name: "E2E_REVISION", value: "2" } }]),
    ]);
    const ps = await waitFor(
      "every demo-host pod to run podplug-kv with E2E_REVISION=2",
      async () => {
        const all = await pods(c, NS, "app=demo-host");
        const updated = all.filter((q) =>
          JSON.stringify(q.spec.initContainers?.find((x) => x.name === "podplug-kv")).includes('"E2E_REVISION"'),
        );
        return all.length === HOST_REPLICAS &&
          updated.length === HOST_REPLICAS &&
          all.every((q) => status(q, "host").ready)
          ? all
          : undefined;
      },
      180_000,
      500,
    );
    for (const q of ps) await callsSucceedAfter(c, q.metadata.name, 0, ["kv", "counter"]);
  });

  it("kubectl delete plugin: the sidecar leaves the template and the pods, the host keeps running", async () => {
    const c = await cluster();
    // A host that does not need the plugin to start: the tools image, sleeping.
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], sleepingHost(c, "solo"));
    const kv = demoPlugins()[0]!;
    kv.metadata.name = "solo";
    kv.spec.selector = { matchLabels: { app: "solo" } };
    kv.spec.env = [{ name: "KV_DIR", value: "/var/run/podplug/solo" }];
    // The sleeping host uses no host SDK, so it writes no host state: its readiness stays its own.
    kv.spec.hostReadiness = false;
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], stringify(kv));
    const withSidecar = await waitFor(
      "the solo pod with podplug-solo ready",
      async () => {
        const [q, ...more] = await pods(c, NS, "app=solo");
        return q &&
          more.length === 0 &&
          (q.status.initContainerStatuses ?? []).some((s) => s.name === "podplug-solo" && s.ready)
          ? q
          : undefined;
      },
      120_000,
      500,
    );
    await kubectlOk(c, ["-n", NS, "delete", "plugin", "solo", "--wait=true"], undefined, 60_000);
    const without = await waitFor(
      "a solo pod without podplug-solo",
      async () => {
        const [q, ...more] = await pods(c, NS, "app=solo");
        return q &&
          more.length === 0 &&
          !(q.spec.initContainers ?? []).some((x) => x.name === "podplug-solo") &&
          status(q, "host").ready
          ? q
          : undefined;
      },
      120_000,
      500,
    );
    assert.notEqual(without.metadata.name, withSidecar.metadata.name, "the pods rolled");
    assert.equal(status(without, "host").restartCount, 0);
    const tpl = await kubectlOk(c, [
      "-n",
      NS,
      "get",
      "deployment",
      "solo",
      "-o",
      "jsonpath={.spec.template.spec.initContainers[*].name}",
    ]);
    assert.doesNotMatch(tpl, /podplug-solo/);
    // The demo host's own Plugins were left alone.
    const demo = await kubectlOk(c, [
      "-n",
      NS,
      "get",
      "deployment",
      "demo-host",
      "-o",
      "jsonpath={.spec.template.spec.initContainers[*].name}",
    ]);
    assert.deepEqual(demo.split(" ").sort(), ["podplug-counter", "podplug-kv", "podplug-launcher"]);
  });

  after(async () => {
    const c = await cluster();
    await c.kubectl(["delete", "namespace", NS, "--wait=false"]);
  });
});
