import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { helmBinary } from "../cluster/binaries.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { run, runOk } from "../cluster/kubectl.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  CRD_FILE,
  createNamespace,
  getJson,
  helmEnv,
  hostDeployment,
  initNames,
  type OperatorHandle,
  pluginManifest,
  ROOT,
  startOperator,
  waitTemplate,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const CHART = join(ROOT, "charts", "podplug");
const RELEASE_NS = "podplug-system";
const SA = `system:serviceaccount:${RELEASE_NS}:podplug`;

const helm = (args: string[], c?: TestCluster): ReturnType<typeof run> => run(helmBinary(), args, { env: helmEnv(c) });

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

async function render(args: string[] = []): Promise<Manifest[]> {
  const out = await runOk(helmBinary(), ["template", "podplug", CHART, "-n", RELEASE_NS, ...args], {
    env: helmEnv(undefined),
  });
  return parseAllDocuments(out)
    .map((d) => d.toJSON() as Manifest)
    .filter(Boolean);
}

describe("the Helm chart", function () {
  this.timeout(120_000);

  it("passes helm lint", async () => {
    const r = await helm(["lint", "--strict", CHART]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders the operator Deployment, ServiceAccount, RBAC and metrics Service, and no ServiceMonitor by default", async () => {
    const kinds = (await render()).map((m) => `${m.kind}/${m.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      "ClusterRole/podplug",
      "ClusterRoleBinding/podplug",
      "Deployment/podplug",
      "Role/podplug-leader-election",
      "RoleBinding/podplug-leader-election",
      "Service/podplug-metrics",
      "ServiceAccount/podplug",
    ]);
  });

  it("ships the CRD from crds/ unchanged", async () => {
    const r = await helm(["show", "crds", CHART]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), readFileSync(CRD_FILE, "utf8").trim());
  });

  it("maps values to the Deployment: image, resources, log level, watched namespaces", async () => {
    const ms = await render([
      "--set",
      "image.tag=9.9.9",
      "--set",
      "logLevel=debug",
      "--set",
      "watchNamespaces={team-a,team-b}",
      "--set",
      "resources.limits.memory=300Mi",
    ]);
    const d = ms.find((m) => m.kind === "Deployment") as unknown as {
      spec: {
        template: {
          spec: {
            containers: {
              image: string;
              env: { name: string; value?: string }[];
              resources: { limits: { memory: string } };
            }[];
          };
        };
      };
    };
    const c = d.spec.template.spec.containers[0]!;
    assert.equal(c.image, "ghcr.io/podplug/podplug:9.9.9");
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.equal(env.LOG_LEVEL, "debug");
    // V8's young generation kept small (measured: RSS peak at N=1000, docs/operator.md); "" leaves Node's default.
    assert.equal(env.NODE_OPTIONS, "--max-semi-space-size=2");
    const plain = (await render(["--set", "nodeOptions="])).find((m) => m.kind === "Deployment") as unknown as {
      spec: { template: { spec: { containers: { env: { name: string }[] }[] } } };
    };
    assert.equal(
      plain.spec.template.spec.containers[0]!.env.some((e) => e.name === "NODE_OPTIONS"),
      false,
    );
    // /metrics and the probes listen on the pod IP from the downward API, not on every interface.
    const podIp = c.env.find((e) => e.name === "POD_IP") as { valueFrom?: { fieldRef?: { fieldPath?: string } } };
    assert.equal(podIp.valueFrom?.fieldRef?.fieldPath, "status.podIP");
    const args = (c as unknown as { args: string[] }).args;
    assert.ok(args.includes("--metrics-bind-address=$(POD_IP):8080"), args.join(" "));
    assert.ok(args.includes("--health-probe-bind-address=$(POD_IP):8081"), args.join(" "));
    const pinned = (await render(["--set", "metrics.host=127.0.0.1"])).find(
      (m) => m.kind === "Deployment",
    ) as unknown as {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    assert.ok(pinned.spec.template.spec.containers[0]!.args.includes("--metrics-bind-address=127.0.0.1:8080"));
    // The client's rate limit: the measured defaults, and what values set.
    assert.ok(args.includes("--kube-api-qps=400") && args.includes("--kube-api-burst=800"), args.join(" "));
    const limited = (await render(["--set", "kubeApi.qps=20", "--set", "kubeApi.burst=30"])).find(
      (m) => m.kind === "Deployment",
    ) as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const largs = limited.spec.template.spec.containers[0]!.args;
    assert.ok(largs.includes("--kube-api-qps=20") && largs.includes("--kube-api-burst=30"), largs.join(" "));
    assert.equal(env.WATCH_NAMESPACES, "team-a,team-b");
    assert.equal(c.resources.limits.memory, "300Mi");
    // Watching listed namespaces grants a Role in each, and no ClusterRole.
    const roles = ms
      .filter((m) => m.kind === "Role" || m.kind === "ClusterRole")
      .map((m) => `${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`)
      .sort();
    assert.deepEqual(roles, [
      "Role/podplug-system/podplug-leader-election",
      "Role/team-a/podplug",
      "Role/team-b/podplug",
    ]);
  });

  it("renders a ServiceMonitor when asked", async () => {
    const sm = (await render(["--set", "serviceMonitor.enabled=true"])).find(
      (m) => m.kind === "ServiceMonitor",
    ) as unknown as { spec: { endpoints: { port: string }[] } };
    assert.equal(sm.spec.endpoints[0]!.port, "metrics");
  });

  const BAD_VALUES: [string, string[], RegExp][] = [
    [
      "an unknown log level",
      ["--set", "logLevel=loud"],
      /logLevel must be one of the following: "trace", "debug", "info", "warn", "error", "fatal"/,
    ],
    [
      "a namespace that is no name",
      ["--set", "watchNamespaces={Team_A}"],
      /watchNamespaces\.0: Does not match pattern/,
    ],
    ["an unknown value", ["--set", "replicas=3"], /Additional property replicas is not allowed/],
    ["a pull policy typo", ["--set", "image.pullPolicy=Sometimes"], /image\.pullPolicy must be one of the following/],
    ["a negative replica count", ["--set", "replicaCount=-1"], /replicaCount: Must be greater than or equal to 0/],
    ["a negative QPS", ["--set", "kubeApi.qps=-5"], /kubeApi\.qps: Must be greater than or equal to 0/],
    ["a burst of 0", ["--set", "kubeApi.burst=0"], /kubeApi\.burst: Must be greater than or equal to 1/],
    ["a misspelt rate-limit key", ["--set", "kubeApi.qpps=5"], /Additional property qpps is not allowed/],
  ];
  for (const [what, args, message] of BAD_VALUES) {
    it(`refuses ${what} through values.schema.json`, async () => {
      const r = await helm(["template", "podplug", CHART, ...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
    });
  }

  describe("installed into the test apiserver", () => {
    let c: TestCluster;
    let op: OperatorHandle | undefined;
    before(async function () {
      this.timeout(180_000);
      c = await cluster();
    });
    after(async () => {
      await op?.stop();
    });

    it("helm install creates the CRD, RBAC, ServiceAccount, Deployment and Service", async () => {
      const r = await helm(
        ["upgrade", "--install", "podplug", CHART, "-n", RELEASE_NS, "--create-namespace", "--set", "replicaCount=1"],
        c,
      );
      assert.equal(r.code, 0, r.stderr);
      for (const obj of [
        ["crd", "plugins.podplug.io"],
        ["-n", RELEASE_NS, "deployment", "podplug"],
        ["-n", RELEASE_NS, "serviceaccount", "podplug"],
        ["-n", RELEASE_NS, "service", "podplug-metrics"],
        ["clusterrole", "podplug"],
        ["clusterrolebinding", "podplug"],
        ["-n", RELEASE_NS, "role", "podplug-leader-election"],
      ]) {
        assert.ok(await getJson(c, obj), `${obj.join(" ")} missing`);
      }
      const status = await helm(["status", "podplug", "-n", RELEASE_NS], c);
      assert.match(status.stdout, /STATUS: deployed/);
    });

    it("the chart's ServiceAccount may do the operator's job and no more", async () => {
      const can = async (args: string[]): Promise<boolean> =>
        (await c.kubectl(["auth", "can-i", "--as", SA, ...args])).stdout.trim() === "yes";
      for (const a of [
        ["watch", "plugins.podplug.io", "-A"],
        ["patch", "plugins.podplug.io/status", "-n", "x"],
        ["patch", "deployments.apps", "-n", "x"],
        ["list", "statefulsets.apps", "-A"],
        ["patch", "daemonsets.apps", "-n", "x"],
        ["create", "events", "-n", "x"],
        ["update", "leases.coordination.k8s.io/podplug", "-n", RELEASE_NS],
        ["create", "secrets", "-n", "x"],
        ["watch", "pods", "-A"],
        ["get", "pods", "-n", "x"],
      ]) {
        assert.ok(await can(a), `cannot ${a.join(" ")}`);
      }
      for (const a of [
        ["get", "secrets", "-n", "x"],
        ["patch", "pods", "-n", "x"],
        ["delete", "pods", "-n", "x"],
        ["delete", "deployments.apps", "-n", "x"],
        ["create", "deployments.apps", "-n", "x"],
        ["update", "deployments.apps", "-n", "x"],
        ["delete", "plugins.podplug.io", "-n", "x"],
        ["update", "leases.coordination.k8s.io/other", "-n", RELEASE_NS],
        ["create", "pods", "-n", "x"],
        ["list", "configmaps", "-A"],
        ["list", "secrets", "-A"],
        ["update", "secrets", "-n", "x"],
        ["delete", "secrets", "-n", "x"],
      ]) {
        assert.ok(!(await can(a)), `may ${a.join(" ")}`);
      }
    });

    it("the operator run as that ServiceAccount (impersonation) injects, elects itself and is refused what it lacks", async () => {
      const ns = "chart-rbac";
      await createNamespace(c, ns);
      const asSa = c.impersonatingKubeconfig(SA);
      op = await startOperator(
        c,
        ["--leader-elect=true", `--leader-election-namespace=${RELEASE_NS}`, "--leader-election-id=podplug"],
        asSa,
        "operator-as-sa",
      );
      await c.kubectlOk(
        ["apply", "-n", ns, "-f", "-"],
        yaml(pluginManifest("rbac", { autoMTLS: true }), hostDeployment("rbac-host", { "podplug.io/host": "rbac" })),
      );
      await waitTemplate(c, ns, "rbac-host", "injected as the SA", (t) => initNames(t).includes("podplug-rbac"));
      // Creating the AutoMTLS Secret needs no right to read Secrets.
      await waitFor("the AutoMTLS Secret, created as the SA", async () =>
        Boolean(await getJson(c, ["-n", ns, "secret", "podplug-rbac-mtls"])),
      );
      await waitFor(
        "status written as the SA",
        async () =>
          (await getJson<{ status?: { workloadCount?: number } }>(c, ["-n", ns, "plugin", "rbac"]))?.status
            ?.workloadCount === 1,
      );
      const lease = await getJson<{ spec: { holderIdentity: string } }>(c, ["-n", RELEASE_NS, "lease", "podplug"]);
      assert.ok(lease?.spec.holderIdentity, "no leader");
      const r = await c.kubectl(["get", "secrets", "-n", ns], undefined, asSa);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Forbidden.*system:serviceaccount:podplug-system:podplug.*cannot list resource "secrets"/);
      assert.equal(await op.stop(), 0);
      op = undefined;
    });

    it("the operator's own pod passes the restricted Pod Security Standard", async () => {
      const ns = "chart-restricted";
      await createNamespace(c, ns, { "pod-security.kubernetes.io/enforce": "restricted" });
      await c.kubectlOk(["create", "serviceaccount", "podplug", "-n", ns]);
      const d = (await render()).find((m) => m.kind === "Deployment") as unknown as {
        spec: { template: { metadata: unknown; spec: unknown } };
      };
      const r = await c.kubectl(
        ["apply", "-n", ns, "-f", "-"],
        yaml({ apiVersion: "v1", kind: "Pod", metadata: { name: "operator" }, spec: d.spec.template.spec }),
      );
      assert.equal(r.code, 0, r.stderr);
    });

    it("helm uninstall removes what it installed and keeps the CRD (and so the Plugins)", async () => {
      const r = await helm(["uninstall", "podplug", "-n", RELEASE_NS], c);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await getJson(c, ["clusterrole", "podplug"]), undefined);
      assert.ok(await getJson(c, ["crd", "plugins.podplug.io"]));
    });
  });
});
