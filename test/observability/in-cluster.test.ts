/**
 * A Prometheus on the test node finds podplug the way a user's Prometheus
 * would: Kubernetes service discovery against the node's apiserver, as a
 * ServiceAccount with the usual read-only RBAC, with the chart's
 * ServiceMonitor (the operator's pods) and the demo host's PodMonitor
 * (examples/monitoring) translated to scrape configs (monitors.ts). It runs
 * inside the node's network namespace, so it reaches only addresses there:
 * the apiserver at 10.200.0.2 and the pods on the pod network. Every
 * assertion goes through its HTTP API. A plugin SIGKILLed in its pod moves
 * the host's restart counter, its up gauge, its error counter and the
 * unavailable alert.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { type E2ECluster, kubectlOk, NodeCluster } from "../e2e/cluster.ts";
import {
  demoPlugins,
  ensureOperator,
  type PodJson,
  pods,
  REPO,
  restrictedHost,
  SYSTEM,
  status,
  yamlOf,
} from "../e2e/demo.ts";
import { freshNamespace } from "../e2e/pods.ts";
import { useE2ECluster } from "../e2e/shared.ts";
import { type Monitor, scrapeConfigs } from "./monitors.ts";
import { Prometheus, prometheusWithSd, type Sample } from "./prometheus.ts";
import { RULES } from "./scenario.ts";

const cluster = useE2ECluster();
const NS = "podplug-obs";
const SA = "prometheus";
const ROLE = "podplug-obs-prometheus";

const value = (s: Sample[]): number => s.reduce((a, x) => a + x.value, 0);

/** The demo host, one replica, serving its metrics on the pod's address under a port named `metrics`. */
function scrapedHost(): string {
  const d = parse(restrictedHost()) as {
    spec: { replicas: number; template: { spec: { containers: Record<string, unknown>[] } } };
  };
  d.spec.replicas = 1;
  const host = d.spec.template.spec.containers[0]!;
  host.env = [
    ...((host.env as { name: string }[] | undefined) ?? []).filter((e) => e.name !== "DEMO_METRICS_HOST"),
    { name: "DEMO_METRICS_HOST", value: "0.0.0.0" },
  ];
  host.ports = [{ name: "metrics", containerPort: 9465 }];
  return stringify(d);
}

/** Prometheus's read-only discovery RBAC (what its Helm charts grant), bound to a ServiceAccount. */
function rbac(): string {
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SA, namespace: NS } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: ROLE },
      rules: [
        { apiGroups: [""], resources: ["pods", "services", "endpoints"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: ROLE },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: ROLE },
      subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
    },
  ]
    .map((o) => stringify(o))
    .join("---\n");
}

/** The chart's ServiceMonitor as the release in SYSTEM renders it (scraped every second here). */
async function chartServiceMonitor(c: E2ECluster): Promise<Monitor> {
  const r = await c.helm([
    "template",
    "podplug",
    resolve(REPO, "charts/podplug"),
    "-n",
    SYSTEM,
    "--set",
    "serviceMonitor.enabled=true",
    "--set",
    "serviceMonitor.interval=1s",
    "--show-only",
    "templates/servicemonitor.yaml",
  ]);
  assert.equal(r.code, 0, r.stderr);
  return parse(r.stdout) as Monitor;
}

function hostPodMonitor(): Monitor {
  const m = parseAllDocuments(
    readFileSync(resolve(REPO, "examples/monitoring/demo-host-podmonitor.yaml"), "utf8"),
  )[0]!.toJS() as Monitor;
  m.metadata.namespace = NS;
  for (const e of m.spec.podMetricsEndpoints ?? []) e.interval = "1s";
  return m;
}

describe("observability: a Prometheus on the test node discovers podplug through the apiserver", function () {
  this.timeout(180_000);
  let prom: Prometheus | undefined;
  let c: NodeCluster;
  let hostPod: PodJson;

  before(async function () {
    this.timeout(300_000);
    const e = await cluster();
    assert.ok(
      e instanceof NodeCluster,
      "this test runs Prometheus inside the harness node's network namespace; an external cluster has none to join",
    );
    c = e;
    await ensureOperator(c);
    await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
    await kubectlOk(c, ["apply", "-f", "-"], rbac());
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(demoPlugins()));
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], scrapedHost());
    await kubectlOk(c, ["-n", NS, "rollout", "status", "deployment/demo-host", "--timeout=150s"], undefined, 160_000);
    const token = (await kubectlOk(c, ["-n", NS, "create", "token", SA, "--duration=1h"])).trim();
    const ca = await kubectlOk(c, [
      "-n",
      NS,
      "get",
      "configmap",
      "kube-root-ca.crt",
      "-o",
      "jsonpath={.data.ca\\.crt}",
    ]);
    const monitors = [await chartServiceMonitor(c), hostPodMonitor()];
    prom = await Prometheus.startWith((at) => ({
      bin: prometheusWithSd(),
      netns: c.node.box.netnsPath,
      files: { token, "ca.crt": ca },
      ruleFiles: [RULES],
      scrapeConfigs: monitors.flatMap((m) =>
        scrapeConfigs(m, { apiServer: c.node.server, caFile: at("ca.crt"), tokenFile: at("token") }),
      ),
    }));
    [hostPod] = await pods(c, NS, "app=demo-host");
    assert.ok(hostPod);
  });

  after(async function () {
    this.timeout(120_000);
    await prom?.stop();
    if (!c) return;
    await c.kubectl(["delete", "namespace", NS, "--wait=false"]);
    await c.kubectl(["delete", "clusterrolebinding,clusterrole", ROLE, "--ignore-not-found"]);
  });

  it("discovers both operator pods through the Service's endpoints and the host pod through its PodMonitor, all up", async () => {
    const targets = await waitFor(
      "two operator targets and one host target, all up",
      async () => {
        const ts = await prom!.targets();
        const op = ts.filter((t) => t.job === "podplug-operator");
        const host = ts.filter((t) => t.job === `${NS}/demo-host`);
        return op.length === 2 && host.length === 1 && [...op, ...host].every((t) => t.health === "up")
          ? { op, host }
          : undefined;
      },
      60_000,
      500,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await prom!.targets())}\n${prom!.tail()}`);
    });
    const ops = await pods(c, SYSTEM, "app.kubernetes.io/name=podplug");
    // Scraped at the pods' own addresses on the pod network, labelled as the Prometheus Operator labels them.
    assert.deepEqual(targets.op.map((t) => t.labels.pod).sort(), ops.map((p) => p.metadata.name).sort());
    for (const t of targets.op) {
      assert.equal(t.labels.namespace, SYSTEM);
      assert.equal(t.labels.endpoint, "metrics");
      assert.ok(t.labels.service, "the Service's name");
      assert.match(t.labels.instance ?? "", /^10\.244\.0\.\d+:8080$/);
    }
    assert.equal(targets.host[0]!.labels.pod, hostPod.metadata.name);
    assert.equal(targets.host[0]!.labels.container, "host");
    assert.equal(targets.host[0]!.labels.instance, `${hostPod.status.podIP}:9465`);
  });

  it("the operator's and the host's series exist with their documented names and labels", async () => {
    assert.equal(value(await prom!.waitFor('up{job="podplug-operator"}', (s) => value(s) === 2)), 2);
    // One of the two replicas leads.
    await prom!.waitFor(
      'leader_election_master_status{job="podplug-operator"}',
      (s) => s.length === 2 && value(s) === 1,
    );
    await prom!.waitFor(
      'controller_runtime_reconcile_total{job="podplug-operator",controller="workload"}',
      (s) => value(s) > 0,
    );
    await prom!.waitFor('controller_runtime_reconcile_errors_total{job="podplug-operator"}', (s) => s.length > 0);
    await prom!.waitFor('workqueue_depth{job="podplug-operator"}', (s) => s.length > 0);
    const sel = `namespace="${NS}",pod="${hostPod.metadata.name}"`;
    const up = await prom!.waitFor(`podplug_plugin_up{${sel}}`, (s) => s.length === 2 && value(s) === 2);
    assert.deepEqual(up.map((s) => s.metric.plugin).sort(), ["counter", "kv"]);
    const calls = await prom!.waitFor(
      `podplug_host_calls_total{${sel},code="OK"}`,
      (s) => new Set(s.map((x) => x.metric.plugin)).size === 2,
    );
    for (const s of calls) {
      assert.match(s.metric.service!, /^[\w.]+$/);
      assert.match(s.metric.method!, /^\w+$/);
    }
    await prom!.waitFor(`podplug_host_call_duration_seconds_count{${sel},plugin="kv"}`, (s) => value(s) > 0);
    await prom!.waitFor(`podplug_plugin_restarts_total{${sel}}`, (s) => s.length === 2 && value(s) === 0);
    // The shipped recording rules aggregate by the namespace discovery gave.
    await prom!.waitFor(`podplug:plugin_calls:rate5m{namespace="${NS}",plugin="kv",code="OK"}`, (s) => value(s) > 0);
    await prom!.waitFor(`podplug:plugin_call_errors:ratio_rate5m{namespace="${NS}"}`, (s) => s.length === 2);
  });

  it("a plugin SIGKILLed in its pod: restarts, up, errors and the unavailable alert move in Prometheus", async () => {
    const sel = `namespace="${NS}",pod="${hostPod.metadata.name}",plugin="kv"`;
    const errors = `sum(podplug_host_calls_total{${sel},code!="OK"}) or vector(0)`;
    let killed: string | undefined;
    // The apiserver learns of a restart after the kubelet has made it: wait for a running container other than
    // the one last killed, or the kill names a task that is gone.
    const kill = async (): Promise<void> => {
      const [p, id] = await waitFor(
        "a running podplug-kv container other than the one killed",
        async () => {
          const q = (await pods(c, NS, "app=demo-host")).find((x) => x.metadata.name === hostPod.metadata.name);
          const s = q && status(q, "podplug-kv");
          return q && s?.containerID && s.containerID !== killed && s.state?.running
            ? ([q, s.containerID] as const)
            : undefined;
        },
        60_000,
        500,
      );
      await c.signalContainer(p.spec.nodeName, id, "SIGKILL");
      killed = id;
    };
    await kill();
    await prom!.waitFor(`podplug_plugin_restarts_total{${sel}}`, (s) => value(s) >= 1, 60_000);
    await prom!.waitFor(`podplug_plugin_up{${sel}}`, (s) => value(s) === 1, 60_000);
    const errorsBefore = value(await prom!.query(errors));
    // A second crash within minutes waits out the kubelet's 10 s back-off: an outage Prometheus must see.
    await kill();
    await prom!.waitFor(`podplug_plugin_up{${sel}}`, (s) => s.length === 1 && value(s) === 0, 30_000);
    await prom!.waitFor(
      'ALERTS{alertname="PodplugPluginUnavailable",alertstate="pending",plugin="kv"}',
      (s) => s.length === 1 && s[0]!.metric.namespace === NS,
      30_000,
    );
    await prom!.waitFor(errors, (s) => value(s) > errorsBefore, 30_000);
    await prom!.waitFor(`podplug_plugin_up{${sel}}`, (s) => value(s) === 1, 90_000);
    await prom!.waitFor(`podplug_plugin_restarts_total{${sel}}`, (s) => value(s) >= 2, 30_000);
    await prom!.waitFor(`podplug:plugin_call_errors:ratio_rate5m{namespace="${NS}",plugin="kv"}`, (s) => value(s) > 0);
    // counter was never touched.
    assert.equal(value(await prom!.query(`podplug_plugin_restarts_total{namespace="${NS}",plugin="counter"}`)), 0);
    assert.equal(value(await prom!.query(`podplug_plugin_up{namespace="${NS}",plugin="counter"}`)), 1);
  });
});
