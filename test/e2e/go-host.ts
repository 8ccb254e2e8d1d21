/**
 * The Go host example (examples/go-host, sdk/go) with the TS kv plugin on a
 * cluster, for the e2e tests and bench/kubelet-restart.ts: its manifests and
 * the "call" records it logs, one JSON line per call.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse, stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { type PodJson, pods, REPO, status } from "./demo.ts";
import { RESTRICTED_IMAGE_USER } from "./pods.ts";

/** The kv plugin's container in a go-host pod (found by the plugin's name, whatever else the pod runs). */
export const KV_CONTAINER = "podplug-kv";

/** examples/go-host/plugin.yaml as shipped, or with other liveness probe settings. */
export function goHostPlugin(liveness?: Record<string, number>): string {
  const text = readFileSync(resolve(REPO, "examples/go-host/plugin.yaml"), "utf8");
  if (!liveness) return text;
  const d = parse(text) as { spec: { probes?: Record<string, unknown> } };
  d.spec.probes = { ...d.spec.probes, liveness };
  return stringify(d);
}

/**
 * examples/go-host/host.yaml with `replicas`, a call every `interval` (GO_HOST_INTERVAL) and the
 * securityContext the restricted standard asks of the user's own container.
 */
export function goHost(replicas: number, interval: string): string {
  const d = parse(readFileSync(resolve(REPO, "examples/go-host/host.yaml"), "utf8")) as {
    spec: { replicas: number; template: { spec: { containers: Record<string, unknown>[] } } };
  };
  d.spec.replicas = replicas;
  for (const ct of d.spec.template.spec.containers) {
    ct.securityContext = RESTRICTED_IMAGE_USER;
    ct.env = [{ name: "GO_HOST_INTERVAL", value: interval }];
  }
  return stringify(d);
}

/** One "call" record of the Go host, or a failure record ("plugin went away", "attach failed": ok false). */
export interface GoCall {
  time: number;
  tick: number;
  ok: boolean;
  value?: string;
  error?: string;
}

/** The Go host's outcome records in pod `pod` of `ns` (the last `tail` lines of its log). */
export async function goCalls(c: E2ECluster, ns: string, pod: string, tail = 400): Promise<GoCall[]> {
  const out = await kubectlOk(c, ["-n", ns, "logs", pod, "-c", "host", `--tail=${tail}`]);
  return out
    .split("\n")
    .filter((l) => l.startsWith("{") && OUTCOMES.some((m) => l.includes(`"msg":"${m}"`)))
    .map((l) => ({ ok: false, ...(JSON.parse(l) as Partial<GoCall>) }) as GoCall);
}

/**
 * The records that tell a call's outcome: each call, and the two that stand for calls not made (the
 * runner may see the plugin gone before the next call fails).
 */
const OUTCOMES = ["call", "plugin went away", "attach failed"];

const good = (k: GoCall): boolean => k.ok && k.value?.startsWith(`${k.tick}\n`) === true;

/** Waits for a successful call logged after `since` (ms) whose value is what the host put. */
export async function goCallSucceedsAfter(c: E2ECluster, ns: string, pod: string, since: number): Promise<GoCall> {
  return waitFor(
    `the Go host's kv calls in ${ns}/${pod} succeeding after ${new Date(since).toISOString()}`,
    async () => (await goCalls(c, ns, pod)).find((k) => k.time > since && good(k)),
    60_000,
    200,
  );
}

/**
 * Waits for the host's outage after `since`: its first failed call logged after `since`, and the first
 * successful one after that (the plugin back). A kill is seen by its effect, not by when the command returned.
 * The times are the host's own, so `everyMs`, how often its log is read, changes only when this returns.
 */
export async function goOutageAfter(
  c: E2ECluster,
  ns: string,
  pod: string,
  since: number,
  everyMs = 200,
): Promise<{ failed: GoCall; back: GoCall }> {
  let seen: GoCall[] = [];
  try {
    return await waitFor(
      `the Go host's kv calls in ${ns}/${pod} failing after ${new Date(since).toISOString()}, then succeeding`,
      async () => {
        // The host logs a call every 100 ms: a long tail, so that the failure is still in it after a slow restart.
        const calls = await goCalls(c, ns, pod, 5000);
        seen = calls;
        const failed = calls.find((k) => k.time > since && !k.ok);
        const back = failed && calls.find((k) => k.time > failed.time && good(k));
        return failed && back ? { failed, back } : undefined;
      },
      60_000,
      everyMs,
    );
  } catch (err) {
    // What the host logged instead: the outcomes since the kill, runs of the same outcome folded.
    const after = seen.filter((k) => k.time > since);
    const runs: string[] = [];
    for (const k of after) {
      const what = k.ok
        ? good(k)
          ? "ok"
          : `ok but value ${JSON.stringify(k.value?.slice(0, 40))}`
        : `failed: ${k.error ?? "?"}`;
      const last = runs.at(-1);
      if (last?.endsWith(` ${what}`))
        runs[runs.length - 1] = last.replace(/^(\d+)×/, (_, n: string) => `${Number(n) + 1}×`);
      else runs.push(`1× ${new Date(k.time).toISOString()} ${what}`);
    }
    (err as Error).message +=
      `\n${seen.length} outcome records in the tail, ${after.length} after the kill (the first of each run):\n  ${runs.slice(0, 40).join("\n  ")}`;
    throw err;
  }
}

/**
 * When the kv sidecar now running in pod `pod` of `ns` started serving: the CRI timestamp of its handshake
 * line (serve() writes it to stdout once its socket listens, just before the handshake file). Undefined while
 * the current container has not announced itself.
 */
export async function kvServedAt(c: E2ECluster, ns: string, pod: string): Promise<number | undefined> {
  const out = await kubectlOk(c, ["-n", ns, "logs", pod, "-c", KV_CONTAINER, "--timestamps"]);
  for (const l of out.split("\n")) {
    const m = /^(\S+) \d+\|\d+\|unix\|/.exec(l);
    if (m) return Date.parse(m[1] as string);
  }
  return undefined;
}

/** The go-host pods of `ns` once `replicas` of them run with the host and the kv sidecar ready. */
export function goHostPods(c: E2ECluster, ns: string, replicas: number): Promise<PodJson[]> {
  return kvHostPods(c, ns, "app=go-host", replicas);
}

/** The pods of `selector` in `ns` once `replicas` of them run with their `host` and kv sidecar ready. */
export async function kvHostPods(c: E2ECluster, ns: string, selector: string, replicas: number): Promise<PodJson[]> {
  return waitFor(
    `${replicas} pods ${selector} with host and ${KV_CONTAINER} ready in ${ns}`,
    async () => {
      const ps = (await pods(c, ns, selector)).filter((p) => !p.metadata.deletionTimestamp);
      const ready = (p: PodJson): boolean =>
        [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])].filter(
          (s) => (s.name === KV_CONTAINER || s.name === "host") && s.ready,
        ).length === 2;
      return ps.length === replicas && ps.every(ready) ? ps : undefined;
    },
    180_000,
    250,
  );
}

/** Every container's restart count and id in `p`, by name. */
export function restarts(p: PodJson): Record<string, { restartCount: number; containerID?: string }> {
  const names = [...(p.spec.initContainers ?? []), ...p.spec.containers].map((x) => x.name);
  return Object.fromEntries(
    names.map((n) => {
      const s = status(p, n);
      return [n, { restartCount: s.restartCount, containerID: s.containerID }];
    }),
  );
}
