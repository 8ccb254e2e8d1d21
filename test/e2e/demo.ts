/**
 * The demo (examples/demo) on a cluster, for the chain tests and the node
 * benchmarks: its pods, their container statuses, and the host's
 * "called both plugins" log records.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { imageRef, toolsImage } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { freshNamespace, podOutcome, RESTRICTED_IMAGE_USER, toolsPod } from "./pods.ts";

export const REPO = resolve(import.meta.dirname, "..", "..");
/** The namespace the chart's operator is installed in. */
export const SYSTEM = "podplug-e2e-system";
/** The demo's namespace, under the restricted standard. */
export const NS = "podplug-e2e-demo";

export interface ContainerStatus {
  name: string;
  restartCount: number;
  ready: boolean;
  containerID?: string;
  state?: { running?: { startedAt: string } };
}
export interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName: string; initContainers?: { name: string }[]; containers: { name: string }[] };
  status: { podIP?: string; initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] };
}

export async function pods(c: E2ECluster, ns: string, selector: string): Promise<PodJson[]> {
  const out = await kubectlOk(c, ["-n", ns, "get", "pods", "-l", selector, "-o", "json"]);
  return (JSON.parse(out) as { items: PodJson[] }).items;
}

export function status(p: PodJson, container: string): ContainerStatus {
  const s = [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])].find(
    (x) => x.name === container,
  );
  assert.ok(s, `pod ${p.metadata.name} has no status for container ${container}`);
  return s;
}

export const HOST_REPLICAS = 2;

/** The demo-host pods once the rollout has settled on HOST_REPLICAS pods that all carry `sidecars`. */
export async function hostPods(c: E2ECluster, sidecars: string[]): Promise<PodJson[]> {
  return waitFor(
    `${HOST_REPLICAS} demo-host pods with ${sidecars.join(", ")}`,
    async () => {
      const ps = await pods(c, NS, "app=demo-host");
      const ok = (q: PodJson): boolean =>
        sidecars.every((n) => (q.spec.initContainers ?? []).some((x) => x.name === n)) && status(q, "host").ready;
      return ps.length === HOST_REPLICAS && ps.every(ok) ? ps : undefined;
    },
    120_000,
    250,
  );
}

/** Pod `name` again, fresh. */
export async function pod(c: E2ECluster, ns: string, name: string): Promise<PodJson> {
  return JSON.parse(await kubectlOk(c, ["-n", ns, "get", "pod", name, "-o", "json"])) as PodJson;
}

export interface Tick {
  time: number;
  tick: number;
  kv?: string;
  counter?: string;
}

/** A demo host tick: both calls succeeded, or `failed` names the plugins whose call failed. */
export interface TickRecord extends Tick {
  failed?: string[];
}

/** Every tick the demo host logged (successful and failed), from its log in `ns`. */
export async function tickRecords(c: E2ECluster, pod: string, ns = NS, tail = 200): Promise<TickRecord[]> {
  const out = await kubectlOk(c, ["-n", ns, "logs", pod, "-c", "host", `--tail=${tail}`]);
  return out
    .split("\n")
    .filter((l) => l.includes('"called both plugins"') || /"msg":"call to [a-z ]+ failed"/.test(l))
    .map((l) => JSON.parse(l) as TickRecord);
}

/** The demo host's "called both plugins" records, from its log. */
export async function ticks(c: E2ECluster, pod: string, ns = NS): Promise<Tick[]> {
  return (await tickRecords(c, pod, ns)).filter((t) => t.failed === undefined);
}

/** Waits for a tick logged after `since` whose kv (and counter, if asked) call succeeded. */
export async function callsSucceedAfter(
  c: E2ECluster,
  pod: string,
  since: number,
  plugins: ("kv" | "counter")[],
  ns = NS,
): Promise<Tick> {
  return waitFor(
    `the host's calls to ${plugins.join(" and ")} succeeding after ${new Date(since).toISOString()}`,
    async () =>
      (await ticks(c, pod, ns)).find(
        (t) => t.time > since && plugins.every((p) => t[p] !== undefined && !String(t[p]).startsWith("error")),
      ),
    60_000,
    500,
  );
}

/** One of the demo's Plugins as a plain object. */
export interface DemoPlugin {
  metadata: { name: string };
  spec: Record<string, unknown>;
}

/**
 * examples/demo/plugins.yaml exactly as shipped: its relative `command: [node, examples/…]`
 * resolves in the images' WORKDIR (/app), which the injection keeps.
 */
export function demoPlugins(): DemoPlugin[] {
  return parseAllDocuments(readFileSync(resolve(REPO, "examples/demo/plugins.yaml"), "utf8")).map(
    (d) => d.toJS() as DemoPlugin,
  );
}

/** YAML of `plugins`, for kubectl apply. */
export function yamlOf(plugins: DemoPlugin[]): string {
  return plugins.map((p) => stringify(p)).join("---\n");
}

/** examples/demo/host.yaml with the securityContext the restricted standard asks of the user's own container. */
export function restrictedHost(): string {
  const d = parse(readFileSync(resolve(REPO, "examples/demo/host.yaml"), "utf8")) as {
    spec: { template: { spec: { containers: Record<string, unknown>[] } } };
  };
  for (const ct of d.spec.template.spec.containers) ct.securityContext = RESTRICTED_IMAGE_USER;
  (d.spec as { replicas?: number }).replicas = HOST_REPLICAS;
  return stringify(d);
}

/** Runs wget in a tools pod of `ns`: a client on the pod network. */
export async function scrape(c: E2ECluster, ns: string, name: string, url: string): Promise<string> {
  await kubectlOk(c, ["apply", "-f", "-"], toolsPod(name, ns, toolsImage(c.images), `wget -q -O- ${url}`));
  const { phase, logs } = await podOutcome(c, ns, name);
  assert.equal(phase, "Succeeded", `wget ${url} from a pod: ${logs}`);
  return logs;
}

/** Installs the chart's operator into SYSTEM unless an earlier file of the suite did. */
export async function ensureOperator(c: E2ECluster): Promise<void> {
  if ((await c.helm(["status", "podplug", "-n", SYSTEM])).code === 0) return;
  await freshNamespace(c, SYSTEM);
  const r = await c.helm(["install", "podplug", resolve(REPO, "charts/podplug"), "-n", SYSTEM, "--wait"], 150_000);
  assert.equal(r.code, 0, r.stderr);
}

/**
 * Installs the chart as `release` into `system`, watching only `ns` (both made fresh, `ns` under the restricted
 * standard): one replica, the webhook watchdog every 2 s, and `sets` as more `--set` values.
 */
export async function installChart(
  c: E2ECluster,
  o: { release: string; system: string; ns: string; mode: "webhook" | "template"; sets?: string[]; timeoutS?: number },
): Promise<void> {
  await freshNamespace(c, o.system);
  await freshNamespace(c, o.ns, { "pod-security.kubernetes.io/enforce": "restricted" });
  const sets = [
    `injection.mode=${o.mode}`,
    "replicaCount=1",
    `watchNamespaces={${o.ns}}`,
    "injection.webhook.watchdogPeriodSeconds=2",
    ...(o.sets ?? []),
  ].flatMap((v) => ["--set", v]);
  const t = o.timeoutS ?? 120;
  const r = await c.helm(
    ["install", o.release, resolve(REPO, "charts/podplug"), "-n", o.system, ...sets, "--wait", "--timeout", `${t}s`],
    (t + 30) * 1000,
  );
  assert.equal(r.code, 0, r.stderr);
  if (o.mode !== "webhook") return;
  // Ready to inject only once the operator has patched its CA into the webhook configuration: a Pod created
  // before that would pass the webhook (its failure policy) without its sidecars.
  await waitFor(
    `the ${o.release} MutatingWebhookConfiguration's caBundle`,
    async () =>
      (
        await kubectlOk(c, [
          "get",
          "mutatingwebhookconfiguration",
          "-l",
          `app.kubernetes.io/instance=${o.release}`,
          "-o",
          "jsonpath={.items[*].webhooks[*].clientConfig.caBundle}",
        ])
      ).trim().length > 100,
    60_000,
    250,
  );
}

/** examples/demo/host.yaml as shipped, parsed. */
export function shippedHost(): {
  spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } };
} {
  return parse(readFileSync(resolve(REPO, "examples/demo/host.yaml"), "utf8"));
}

/** A bare pod of the demo host image under the shipped securityContext, with `env`; no Plugin selects it. */
export function loneHost(c: E2ECluster, name: string, env: Record<string, string>, restartPolicy = "Never"): string {
  const tpl = shippedHost().spec.template.spec;
  const host = tpl.containers[0]!;
  return stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: name } },
    spec: {
      ...tpl,
      restartPolicy,
      containers: [
        {
          ...host,
          image: imageRef(c.images, "ghcr.io/podplug/example-demo-host:"),
          imagePullPolicy: "Never",
          env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
        },
      ],
    },
  });
}

/**
 * A host for the demo host's image that calls kv alone: the host SDK's Client attached to kv
 * (sidecarAttach, so with a standby when the Plugin has one), one kv put every 50 ms for at most
 * 10 min, a JSON line per failed call, per first success after one, and one every `okEveryMs` otherwise.
 * Each line carries the client's `standbyReady` and `failoverCount`.
 */
export function kvCaller(okEveryMs = 1000): string {
  return `
import { Client, exitOnSignals, sidecarAttach } from "/app/dist/src/host/index.js";
import { handshake } from "/app/dist/examples/counter/shared.js";
import { kvPlugin } from "/app/dist/examples/kv/shared.js";
const client = new Client({ name: "kv", handshake, plugins: { kv: kvPlugin() }, attach: sidecarAttach("kv"), outage: { mode: "fail-fast" } });
exitOnSignals(() => client.kill());
const kv = await client.dispense("kv");
const log = (r) => console.log(JSON.stringify({ msg: "call", time: Date.now(), standby: client.standbyReady, failovers: client.failoverCount, ...r }));
let lastOk = 0, failing = true;
for (const end = Date.now() + 600_000; Date.now() < end; ) {
  const started = Date.now();
  try {
    await kv.put("k", Buffer.from(String(started)));
    if (failing || Date.now() - lastOk > ${okEveryMs}) { log({ ok: true, started }); lastOk = Date.now(); }
    failing = false;
  } catch (e) {
    failing = true;
    log({ ok: false, started, code: e.code, details: e.details, message: e.message });
  }
  await new Promise((r) => setTimeout(r, 50));
}
process.exit(0);
`;
}

/** One line of {@link kvCaller}. */
export interface CallRecord {
  time: number;
  started: number;
  ok: boolean;
  standby: boolean;
  failovers: number;
  code?: number;
  details?: string;
  message?: string;
}

/** {@link kvCaller}'s records in `log` (a host container's log). */
export function callRecordsOf(log: string): CallRecord[] {
  return log
    .split("\n")
    .filter((l) => l.startsWith('{"msg":"call"'))
    .map((l) => JSON.parse(l) as CallRecord);
}

/**
 * Waits for {@link kvCaller}'s outage after `since` in pod `pod` of `ns`: its first failed call logged
 * after `since` and the first successful one after that (a kill seen by its effect, as goOutageAfter;
 * `everyMs` as there).
 */
export async function callerOutageAfter(
  c: E2ECluster,
  ns: string,
  pod: string,
  since: number,
  everyMs = 200,
): Promise<{ failed: CallRecord; back: CallRecord }> {
  return waitFor(
    `the TS caller's kv calls in ${ns}/${pod} failing after ${new Date(since).toISOString()}, then succeeding`,
    async () => {
      const rs = callRecordsOf(await kubectlOk(c, ["-n", ns, "logs", pod, "-c", "host", "--tail=2000"]));
      const failed = rs.find((r) => r.time > since && !r.ok);
      const back = failed && rs.find((r) => r.time > failed.time && r.ok);
      return failed && back ? { failed, back } : undefined;
    },
    60_000,
    everyMs,
  );
}
