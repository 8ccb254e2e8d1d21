/**
 * Helpers of the operator tests: the CRD, namespaces, YAML, and the operator
 * as a real child process (`node operator/main.ts`) with its ports known.
 */

import { request } from "node:https";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { TestCluster } from "../cluster/cluster.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CRD_FILE = join(ROOT, "crds", "plugins.podplug.io.yaml");

/** Installs the CRD and waits until it is served. */
export async function installCrd(c: TestCluster): Promise<void> {
  await c.kubectlOk(["apply", "--server-side", "--force-conflicts", "-f", CRD_FILE]);
  await c.kubectlOk(["wait", "--for=condition=Established", "--timeout=60s", "crd/plugins.podplug.io"]);
}

/** Creates namespace `ns` (with `labels`) and its default ServiceAccount (no controller-manager makes it). */
export async function createNamespace(c: TestCluster, ns: string, labels: Record<string, string> = {}): Promise<void> {
  await c.kubectlOk(
    ["apply", "-f", "-"],
    yaml({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } }),
  );
  await c.kubectlOk(
    ["apply", "-n", ns, "-f", "-"],
    yaml({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default" } }),
  );
}

/** YAML of one or more objects, quoted for kubectl's YAML 1.1 reader (`yes` stays a string). */
export function yaml(...objs: unknown[]): string {
  return objs.map((o) => stringify(o, { version: "1.1" })).join("---\n");
}

/**
 * A MutatingWebhookConfiguration that sends Pod creations in `namespace` to an
 * operator's webhook on loopback `port` (the test apiserver reaches it there),
 * as the chart's does: pods labelled `podplug.io/inject: "false"` skip it.
 */
export function webhookConfiguration(o: {
  name: string;
  port: number;
  namespace: string;
  failurePolicy?: "Fail" | "Ignore";
  reinvocation?: boolean;
}): Record<string, unknown> {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: o.name },
    webhooks: [
      {
        name: "inject.podplug.io",
        admissionReviewVersions: ["v1"],
        clientConfig: { url: `https://127.0.0.1:${o.port}/inject` },
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
        failurePolicy: o.failurePolicy ?? "Fail",
        sideEffects: "None",
        ...(o.reinvocation ? { reinvocationPolicy: "IfNeeded" } : {}),
        timeoutSeconds: 5,
        namespaceSelector: {
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: [o.namespace] }],
        },
        objectSelector: { matchExpressions: [{ key: "podplug.io/inject", operator: "NotIn", values: ["false"] }] },
      },
    ],
  };
}

/** A Plugin manifest. */
export function pluginManifest(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name },
    spec: {
      image: `example/${name}:1`,
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1] },
      selector: { matchLabels: { "podplug.io/host": name } },
      ...spec,
    },
  };
}

/** A host Deployment manifest with `labels` on the Deployment. */
export function hostDeployment(
  name: string,
  labels: Record<string, string>,
  containers = ["host"],
): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: containers.map((n) => ({
            name: n,
            image: `example/${n}:1`,
            env: [{ name: "HOST_MODE", value: "sidecar" }],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          })),
        },
      },
    },
  };
}

/**
 * The scale scenario of the tests and the benchmark: N Deployments `w<i>` and
 * `pluginCount` Plugins `p<j>` (N/5 unless given; at least one); workload i is selected by 1-3 Plugins
 * (labels `sel-p<j>=yes`). `expected` maps each workload to its Plugins, sorted.
 */
export function scaleScenario(
  n: number,
  pluginCount = Math.floor(n / 5),
): {
  plugins: Record<string, unknown>[];
  workloads: Record<string, unknown>[];
  objects: Record<string, unknown>[];
  expected: Map<string, string[]>;
} {
  const count = Math.max(1, pluginCount);
  const plugins: Record<string, unknown>[] = [];
  const workloads: Record<string, unknown>[] = [];
  const expected = new Map<string, string[]>();
  for (let j = 0; j < count; j++)
    plugins.push(pluginManifest(`p${j}`, { selector: { matchLabels: { [`sel-p${j}`]: "yes" } } }));
  for (let i = 0; i < n; i++) {
    const picks = [...new Set([i % count, (i * 7 + 1) % count, (i * 13 + 2) % count].slice(0, 1 + (i % 3)))];
    workloads.push(hostDeployment(`w${i}`, Object.fromEntries(picks.map((j) => [`sel-p${j}`, "yes"]))));
    expected.set(`w${i}`, picks.map((j) => `p${j}`).sort());
  }
  return { plugins, workloads, objects: [...plugins, ...workloads], expected };
}

/** kubectl get -o json, parsed; undefined when not found. */
export async function getJson<T = Record<string, unknown>>(
  c: TestCluster,
  args: string[],
  kubeconfig?: string,
): Promise<T | undefined> {
  const r = await c.kubectl(["get", ...args, "-o", "json"], undefined, kubeconfig);
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${args.join(" ")}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** Pod template of a Deployment (or other workload). */
export interface TemplateView {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    initContainers?: {
      name: string;
      env?: { name: string; value?: string }[];
      livenessProbe?: { httpGet?: { path: string; port: number }; terminationGracePeriodSeconds?: number };
      volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
      restartPolicy?: string;
    }[];
    containers: {
      name: string;
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string; mountPath: string }[];
    }[];
    volumes?: { name: string }[];
  };
}

/** The pod template of workload `kind/name` in `ns`. */
export async function template(c: TestCluster, ns: string, name: string, kind = "deployment"): Promise<TemplateView> {
  const d = await getJson<{ spec: { template: TemplateView } }>(c, ["-n", ns, kind, name]);
  if (!d) throw new Error(`${kind} ${ns}/${name} not found`);
  return d.spec.template;
}

/** Names of the init containers of a template. */
export const initNames = (t: TemplateView): string[] => (t.spec.initContainers ?? []).map((x) => x.name);

/** Waits until `check(template)` holds. */
export async function waitTemplate(
  c: TestCluster,
  ns: string,
  name: string,
  what: string,
  check: (t: TemplateView) => boolean,
  kind = "deployment",
): Promise<TemplateView> {
  return waitFor(
    what,
    async () => {
      const t = await template(c, ns, name, kind);
      return check(t) ? t : undefined;
    },
    30_000,
    100,
  );
}

/** A running operator. */
export interface OperatorHandle {
  proc: ManagedProcess;
  metricsUrl: string;
  healthUrl: string;
  /** SIGTERM; SIGKILL if still running after `killAfterMs` (then resolves null). */
  stop(killAfterMs?: number): Promise<number | null>;
}

/** Starts `node operator/main.ts` against `kubeconfig` (with `env` over the test's), waits for /healthz. */
export async function startOperator(
  c: TestCluster,
  extraArgs: string[] = [],
  kubeconfig = c.kubeconfig,
  logName = "operator",
  env: NodeJS.ProcessEnv = {},
): Promise<OperatorHandle> {
  const metricsPort = await freePort();
  const healthPort = await freePort();
  // PODPLUG_OPERATOR_MAIN runs another build of the operator (e.g. dist/operator/main.js).
  const proc = new ManagedProcess(
    logName,
    process.execPath,
    [
      process.env.PODPLUG_OPERATOR_MAIN ?? join(ROOT, "operator", "main.ts"),
      `--kubeconfig=${kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      ...extraArgs,
    ],
    join(c.ctx.dir, `${logName}.log`),
    { ...process.env, ...env },
  );
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  await waitFor(
    `${logName} /healthz`,
    async () => {
      proc.assertRunning();
      return (await fetch(`${healthUrl}/healthz`)).ok;
    },
    30_000,
    100,
  );
  return {
    proc,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    healthUrl,
    async stop(killAfterMs = 15_000) {
      if (!proc.running) return proc.child.exitCode;
      proc.child.kill("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), killAfterMs);
      const code = await proc.exited();
      clearTimeout(timer);
      return code;
    },
  };
}

/** The sum of every sample of metric `name` (a prefix, labels included) the operator serves. */
export async function metric(op: OperatorHandle, name: string): Promise<number> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").pop());
  return sum;
}

/**
 * Waits until the operator has reconciled at least `reconciles` times and is
 * idle: queues empty, no worker busy, and the reconcile count unchanged over
 * half a second. A condition on counts, not a sleep.
 */
export async function waitQuiet(op: OperatorHandle, reconciles: number, timeoutMs = 60_000): Promise<void> {
  let last = -1;
  await waitFor(
    "the operator idle",
    async () => {
      op.proc.assertRunning();
      const total = await metric(op, "controller_runtime_reconcile_total");
      const busy = (await metric(op, "workqueue_depth")) + (await metric(op, "controller_runtime_active_workers")) > 0;
      const steady = total === last;
      last = total;
      return total >= reconciles && !busy && steady;
    },
    timeoutMs,
    500,
  );
}

/** What a describe block gets from useNamespace(). */
export interface NamespaceFixture {
  /** The shared cluster (valid once `before` ran). */
  cluster(): TestCluster;
  /** The block's operator; throws if the block asked for none. */
  operator(): OperatorHandle;
  /** The operator's exit code once `after` stopped it. */
  exitCode(): number | null | undefined;
}

/**
 * Call inside a describe: before it, the shared cluster with the CRD and
 * namespace `ns` (with `labels`); with `operatorArgs`, an operator (no leader
 * election) watching `ns` with those extra flags, stopped by SIGTERM after it.
 */
export function useNamespace(
  getCluster: () => Promise<TestCluster>,
  ns: string,
  opts: { labels?: Record<string, string>; operatorArgs?: string[] } = {},
): NamespaceFixture {
  let c: TestCluster | undefined;
  let op: OperatorHandle | undefined;
  let code: number | null | undefined;
  before(async function () {
    this.timeout(180_000);
    c = await getCluster();
    await installCrd(c);
    await createNamespace(c, ns, opts.labels);
    if (opts.operatorArgs)
      op = await startOperator(
        c,
        ["--leader-elect=false", `--watch-namespaces=${ns}`, ...opts.operatorArgs],
        c.kubeconfig,
        `operator-${ns}`,
      );
  });
  after(async function () {
    this.timeout(30_000);
    code = await op?.stop();
  });
  return {
    cluster: () => c!,
    operator: () => {
      if (!op) throw new Error(`no operator in namespace fixture ${ns}`);
      return op;
    },
    exitCode: () => code,
  };
}

/**
 * One HTTPS request to 127.0.0.1:`port` `path`; resolves with status and text. With `ca` the server must
 * present a certificate for `servername` from it; without, any certificate is taken.
 */
export function httpsLoopback(
  port: number,
  body: string | Buffer,
  o: { path?: string; method?: string; headers?: Record<string, string>; ca?: string; servername?: string } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: o.path ?? "/",
        method: o.method ?? "POST",
        headers: o.headers ?? { "Content-Type": "application/json" },
        ...(o.ca ? { ca: o.ca, servername: o.servername } : { rejectUnauthorized: false }),
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`HTTPS request to 127.0.0.1:${port}${o.path ?? "/"} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The environment of a helm run against `c` (or none), with helm's folders in the cluster's (or a temp) folder. */
export function helmEnv(c: TestCluster | undefined): NodeJS.ProcessEnv {
  const base = c ? c.env() : { ...process.env };
  const dir = c ? c.ctx.dir : "/tmp";
  return {
    ...base,
    HELM_CACHE_HOME: join(dir, "helm-cache"),
    HELM_CONFIG_HOME: join(dir, "helm-config"),
    HELM_DATA_HOME: join(dir, "helm-data"),
  };
}
