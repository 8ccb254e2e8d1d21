/**
 * The webhook mode's gauges behind two shipped alerts, scraped by a real
 * Prometheus with the rules loaded: pods a Plugin selects that run without its
 * sidecar (a Pod created before its Plugin), and an in-place upgrade halted
 * (a patched Pod's new sidecar never ready within the progress deadline: the
 * test apiserver has no kubelet, so it never runs). Both alerts go pending as
 * their gauges rise, and the series follow the Pods and the Plugin away.
 */
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { injectPod } from "../../operator/webhook/pod-injection.ts";
import type { Plugin } from "../../src/inject/types.ts";
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
  yaml,
} from "../operator/helpers.ts";
import { Prometheus, type Sample } from "./prometheus.ts";
import { RULES } from "./scenario.ts";

const getCluster = useSharedCluster();
const NS = "wd-metrics";
const SYSTEM = "wd-metrics-system";
const LAUNCHER = "example/podplug:1";

const value = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

function hostPod(name: string): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels: { "podplug.io/host": "kv" } },
    spec: { automountServiceAccountToken: false, containers: [{ name: "host", image: "example/host:1" }] },
  };
}

describe("observability: the webhook watchdog's gauges and their alerts in a real Prometheus", function () {
  this.timeout(120_000);
  let op: OperatorHandle | undefined;
  let prom: Prometheus | undefined;

  before(async function () {
    this.timeout(180_000);
    const c = await getCluster();
    await installCrd(c);
    await c.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true"]);
    await createNamespace(c, NS);
    await createNamespace(c, SYSTEM);
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("kv")));
    // One Pod created while no webhook injected it, one carrying the sidecar as the webhook injects it.
    await c.kubectlOk(["create", "-f", "-"], yaml(hostPod("uninjected")));
    const plugin = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
    const injected = injectPod(hostPod("injected"), NS, [plugin!], { launcherImage: LAUNCHER });
    assert.ok(injected.injected);
    await c.kubectlOk(["create", "-f", "-"], yaml(injected.pod));
    const port = await freePort();
    op = await startOperator(
      c,
      [
        "--leader-elect=false",
        `--watch-namespaces=${NS}`,
        "--injection-mode=webhook",
        `--webhook-bind-address=127.0.0.1:${port}`,
        "--webhook-cert-hosts=127.0.0.1,localhost",
        "--webhook-configuration-name=",
        `--leader-election-namespace=${SYSTEM}`,
        `--launcher-image=${LAUNCHER}`,
        "--watchdog-period-seconds=1",
        "--upgrade-max-in-flight=1",
        "--upgrade-progress-deadline-seconds=10",
      ],
      c.kubeconfig,
      "operator-wd-metrics",
    );
    prom = await Prometheus.start([{ job: "podplug-operator", targets: [new URL(op.metricsUrl).host] }], [RULES]);
  });

  after(async function () {
    this.timeout(60_000);
    await prom?.stop();
    await op?.stop();
    const c = await getCluster();
    await c.kubectl(["delete", "namespace", NS, SYSTEM, "--wait=false"]);
  });

  it("counts the Pod without its sidecar per Plugin, and PodplugPodsWithoutSidecar goes pending", async () => {
    const s = await prom!.waitFor(
      `podplug_plugin_pods_without_sidecar{namespace="${NS}"}`,
      (x) => x.length === 1 && value(x) === 1,
    );
    assert.equal(s[0]!.metric.plugin, "kv");
    await prom!.waitFor(
      'ALERTS{alertname="PodplugPodsWithoutSidecar",alertstate="pending"}',
      (x) => x.length === 1 && x[0]!.metric.plugin === "kv" && x[0]!.metric.namespace === NS,
    );
    // No upgrade under way: the halted gauge exists at 0 and its alert is absent.
    await prom!.waitFor(
      `podplug_plugin_upgrade_halted{namespace="${NS}",plugin="kv"}`,
      (x) => x.length === 1 && value(x) === 0,
    );
    assert.deepEqual(await prom!.query('ALERTS{alertname="PodplugUpgradeHalted"}'), []);
  });

  it("a new image whose sidecar never gets ready halts the in-place upgrade: the gauge goes to 1 and PodplugUpgradeHalted goes pending", async () => {
    const c = await getCluster();
    await c.kubectlOk(["-n", NS, "patch", "plugin", "kv", "--type=merge", "-p", '{"spec":{"image":"example/kv:2"}}']);
    // Patched in place first (the upgrade's own doing), then halted once the 10 s deadline passes.
    await waitFor(
      "the injected Pod's sidecar patched to the new image",
      async () => {
        const p = await getJson<V1Pod>(c, ["-n", NS, "pod", "injected"]);
        return p?.spec?.initContainers?.some((x) => x.name === "podplug-kv" && x.image === "example/kv:2");
      },
      30_000,
      250,
    );
    await prom!.waitFor(`podplug_plugin_upgrade_halted{namespace="${NS}",plugin="kv"}`, (x) => value(x) === 1, 60_000);
    await prom!.waitFor(
      'ALERTS{alertname="PodplugUpgradeHalted",alertstate="pending"}',
      (x) => x.length === 1 && x[0]!.metric.plugin === "kv" && x[0]!.metric.namespace === NS,
    );
    const p = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
    assert.equal(p?.status?.conditions?.find((x) => x.type === "SidecarsUpgraded")?.reason, "UpgradeHalted");
  });

  it("the series follow the Pods and the Plugin away", async () => {
    const c = await getCluster();
    await c.kubectlOk(["-n", NS, "delete", "pod", "uninjected", "--wait=false"]);
    await prom!.waitFor(
      `podplug_plugin_pods_without_sidecar{namespace="${NS}",plugin="kv"}`,
      (x) => x.length === 1 && value(x) === 0,
    );
    await c.kubectlOk(["-n", NS, "delete", "plugin", "kv", "--wait=false"]);
    await prom!.waitFor(
      `podplug_plugin_pods_without_sidecar{namespace="${NS}"} or podplug_plugin_upgrade_halted{namespace="${NS}"}`,
      (x) => x.length === 0,
    );
  });
});
