/**
 * Cluster reloads of webhook mode (docs/lifecycle.md): a Plugin annotated
 * `podplug.io/reload: <token>` gets its sidecar restarted in every Pod that
 * carries it, the host container and the Pod untouched — what
 * `client.reload()` does for one host. The operator sets the Pod annotation
 * `podplug.io/reload-<plugin>: <token>`; the kubelet projects it into the
 * sidecar's downward API volume; the launcher sees the file change, stops the
 * plugin and exits 0; the kubelet starts the sidecar again. Paced as in-place
 * upgrades: at most `maxInFlight` Pods whose sidecar has not come back yet;
 * a reloaded sidecar that fails (crash-loops, or is not ready within the
 * deadline) halts the reload. Progress is the Plugin's `status.reload`, and
 * one Event when it ends (`Reloaded`, or `ReloadHalted`).
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SIDECAR_ENV } from "../../src/constants.ts";
import {
  pluginContainerName,
  podReloadAnnotation,
  RELOAD_ANNOTATION,
  RELOAD_TOKEN_MAX,
} from "../../src/inject/conventions.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin, type PluginReloadStatus } from "../../src/inject/types.ts";
import type { KubeClient } from "../client.ts";
import { KubeApiError } from "../errors.ts";
import type { EventRecorder } from "../events.ts";
import { rfc3339Seconds } from "../rfc3339.ts";
import { applyPluginStatus } from "../status-apply.ts";
import { FAILING, lastWord } from "./upgrade.ts";

const FIELD_MANAGER = "podplug-webhook-reload";
/** Names listed in `reloadedPods`: the count is exact, the list bounded. */
const LISTED = 100;
/** Longest token taken (src/inject/conventions.ts, shared with template mode's answer). */
export const MAX_TOKEN_LENGTH = RELOAD_TOKEN_MAX;

/** The reload `plugin` asks for: its annotation's value, trimmed; undefined when none. */
export function reloadToken(plugin: Readonly<Plugin>): string | undefined {
  const t = plugin.metadata.annotations?.[RELOAD_ANNOTATION]?.trim();
  return t ? t : undefined;
}

/** Where one Pod stands in a reload. */
export type PodReloadState =
  | { state: "absent" }
  | { state: "unreachable"; reason?: string; message: string }
  | { state: "pending" }
  | { state: "reloading" }
  | { state: "done" }
  | { state: "failed"; reason: string; message: string };

// RFC 3339 times of the apiserver have whole seconds: compare in them.
const seconds = (t: string | Date | undefined): number =>
  t === undefined ? Number.NaN : Math.floor(new Date(t).getTime() / 1000);

/**
 * The state of `pod`'s sidecar of `plugin` in the reload `token` asked at
 * `startMs`; `patchedMs` is when the operator set the Pod's annotation (if it
 * knows), `deadlineMs` how long the sidecar may take to come back from then.
 */
export function podReloadState(
  pod: V1Pod,
  plugin: string,
  token: string,
  startMs: number,
  deadlineMs: number,
  nowMs: number,
  patchedMs?: number,
  annotateError?: string,
): PodReloadState {
  const name = pluginContainerName(plugin);
  const c = (pod.spec?.initContainers ?? []).find((x) => x.name === name);
  if (!c) return { state: "absent" };
  if (!(c.env ?? []).some((e) => e.name === SIDECAR_ENV.reloadFile))
    return {
      state: "unreachable",
      message:
        "its sidecar has no reload file (the Pod was created before the operator supported reloads, or the Plugin names no command, so no launcher runs it): roll its workload to reload it",
    };
  const st = (pod.status?.initContainerStatuses ?? []).find((s) => s.name === name);
  const started = st?.state?.running?.startedAt;
  // A sidecar started since the reload was asked runs the plugin as it is now: nothing to do.
  if (st?.ready && started !== undefined && seconds(started) >= seconds(new Date(startMs))) return { state: "done" };
  if (pod.metadata?.annotations?.[podReloadAnnotation(plugin)] !== token)
    return annotateError === undefined
      ? { state: "pending" }
      : { state: "unreachable", reason: "AnnotateFailed", message: annotateError };
  const waiting = st?.state?.waiting;
  if (waiting?.reason && FAILING.has(waiting.reason))
    return { state: "failed", reason: waiting.reason, message: waiting.message ?? lastWord(pod, name) };
  if (nowMs - (patchedMs ?? startMs) > deadlineMs)
    return {
      state: "failed",
      reason: "ReloadDeadlineExceeded",
      message: `not restarted and ready within ${Math.round(deadlineMs / 1000)} s (${lastWord(pod, name)})`,
    };
  return { state: "reloading" };
}

/** What to do for one Plugin now: the Pods to annotate, and the status to show. */
export interface ReloadPlan {
  patch: string[];
  status: Omit<PluginReloadStatus, "startTime" | "completionTime">;
}

/** The plan of reload `token` of `plugin` over its selected `pods`. */
export function planReload(
  plugin: Readonly<Plugin>,
  token: string,
  pods: readonly V1Pod[],
  maxInFlight: number,
  state: (pod: V1Pod) => PodReloadState,
): ReloadPlan {
  const reloaded: string[] = [];
  const pending: string[] = [];
  const failed: PluginReloadStatus["failedPods"] = [];
  let inFlight = 0;
  let halting = false;
  for (const p of pods) {
    const n = p.metadata?.name;
    if (!n || p.metadata?.deletionTimestamp) continue;
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    const s = state(p);
    if (s.state === "done") reloaded.push(n);
    else if (s.state === "pending") pending.push(n);
    else if (s.state === "reloading") inFlight++;
    else if (s.state === "unreachable")
      failed.push({ name: n, reason: s.reason ?? "NotReloadable", message: s.message });
    else if (s.state === "failed") {
      failed.push({ name: n, reason: s.reason, message: s.message });
      halting = true;
    }
  }
  reloaded.sort();
  pending.sort();
  failed.sort((a, b) => a.name.localeCompare(b.name));
  const podCount = reloaded.length + pending.length + inFlight + failed.length;
  const counts = `${reloaded.length} of ${podCount} pod(s) reloaded, ${inFlight} reloading, ${pending.length} waiting, ${failed.length} failed`;
  const base = {
    token,
    podCount,
    reloadedCount: reloaded.length,
    reloadedPods: reloaded.slice(0, LISTED),
    failedPods: failed,
  };
  const name = plugin.metadata.name;
  if (halting)
    return {
      patch: [],
      status: {
        ...base,
        state: "Halted",
        message: `the reloaded sidecar podplug-${name} fails in ${failed
          .filter((f) => f.reason !== "NotReloadable" && f.reason !== "AnnotateFailed")
          .map((f) => `${f.name}: ${f.reason}`)
          .join("; ")}: no further pod is reloaded until the annotation ${RELOAD_ANNOTATION} changes (${counts})`,
      },
    };
  if (pending.length === 0 && inFlight === 0)
    return { patch: [], status: { ...base, state: "Reloaded", message: counts } };
  return {
    patch: pending.slice(0, Math.max(0, maxInFlight - inFlight)),
    status: { ...base, state: "Reloading", message: counts },
  };
}

/** The plan for a token too long to copy onto every Pod: nothing touched, the status says why. */
function refusedToken(token: string): ReloadPlan {
  return {
    patch: [],
    status: {
      token: `${token.slice(0, 64)}…`,
      state: "Halted",
      podCount: 0,
      reloadedCount: 0,
      reloadedPods: [],
      failedPods: [],
      message: `the ${RELOAD_ANNOTATION} value is ${token.length} characters, more than ${MAX_TOKEN_LENGTH}: no pod was reloaded; set a shorter one (a timestamp, a counter)`,
    },
  };
}

/** What the reloader needs. */
export interface ReloaderOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  maxInFlight: number;
  /** How long an annotated Pod's sidecar may take to restart and be ready before the reload halts. */
  progressDeadlineMs: number;
}

/** Applies reload plans: annotates Pods, writes `status.reload` when it changes, posts the closing Event. */
export class Reloader {
  private readonly o: ReloaderOptions;
  /** By Plugin uid: the token under way, when it was first seen, and when each Pod (uid) was annotated. */
  private readonly runs = new Map<
    string,
    { token: string; startMs: number; patched: Map<string, number>; errors: Map<string, string> }
  >();
  /** By Plugin uid/token: how reloads whose ending Event was posted ended (the status may not show it yet). */
  private readonly ended = new Map<string, PluginReloadStatus["state"]>();

  constructor(o: ReloaderOptions) {
    this.o = o;
  }

  /** One step for `plugin` over the Pods its selector matched; returns the reload's state (undefined: none asked). */
  async step(plugin: Readonly<Plugin>, pods: readonly V1Pod[]): Promise<PluginReloadStatus["state"] | undefined> {
    const token = reloadToken(plugin);
    if (token === undefined) return undefined;
    const name = plugin.metadata.name;
    const ns = plugin.metadata.namespace ?? "default";
    const key = plugin.metadata.uid ?? `${ns}/${name}`;
    const have = plugin.status?.reload;
    // An ended reload stays ended (a halted one is not resumed) until the token changes.
    if (have?.token === token && have.state !== "Reloading") return have.state;
    const ended = this.ended.get(`${key}/${token}`);
    if (ended !== undefined) return ended;
    let run = this.runs.get(key);
    if (run?.token !== token) {
      const known = have?.token === token ? Date.parse(have.startTime) : Number.NaN;
      run = { token, startMs: Number.isNaN(known) ? Date.now() : known, patched: new Map(), errors: new Map() };
      this.runs.set(key, run);
      this.o.log.info({ plugin: name, namespace: ns, token }, "reload asked");
    }
    const now = Date.now();
    const r = run;
    const uidOf = (p: V1Pod): string => p.metadata?.uid ?? "";
    const plan =
      token.length > MAX_TOKEN_LENGTH
        ? refusedToken(token)
        : planReload(plugin, token, pods, this.o.maxInFlight, (p) =>
            podReloadState(
              p,
              name,
              token,
              r.startMs,
              this.o.progressDeadlineMs,
              now,
              r.patched.get(uidOf(p)),
              r.errors.get(uidOf(p)),
            ),
          );
    const byName = new Map(pods.map((p) => [p.metadata?.name ?? "", p]));
    for (const podName of plan.patch) {
      const uid = uidOf(byName.get(podName) ?? {});
      try {
        await this.o.client.write("PATCH", `/api/v1/namespaces/${ns}/pods/${podName}`, {
          contentType: "application/merge-patch+json",
          body: { metadata: { annotations: { [podReloadAnnotation(name)]: token } } },
        });
      } catch (err) {
        // One Pod refusing (gone, its annotations full) must not stop the others: it is named, not retried.
        if (err instanceof KubeApiError && err.status === 404) continue;
        r.errors.set(uid, `its annotation podplug.io/reload-${name} could not be set: ${(err as Error).message}`);
        this.o.log.warn(
          { plugin: name, namespace: ns, pod: podName, err: (err as Error).message },
          "reload: annotate failed",
        );
        continue;
      }
      r.patched.set(uid, Date.now());
      this.o.log.info({ plugin: name, namespace: ns, pod: podName, token }, "sidecar reload asked");
    }
    // A Pod whose annotation failed in this pass: its state is shown in the next pass's plan.
    const ending =
      plan.status.state !== "Reloading" && plan.patch.every((n) => !r.errors.has(uidOf(byName.get(n) ?? {})));
    const status: PluginReloadStatus = {
      ...plan.status,
      startTime: rfc3339Seconds(r.startMs),
      ...(ending ? { completionTime: rfc3339Seconds(now) } : {}),
    };
    const { completionTime: _c, ...was } = have ?? ({} as Partial<PluginReloadStatus>);
    const { completionTime: _n, ...is } = status;
    if (JSON.stringify(was) !== JSON.stringify(is))
      await applyPluginStatus(this.o.client, FIELD_MANAGER, { name, namespace: ns }, { reload: status });
    if (ending) {
      this.ended.set(`${key}/${token}`, status.state);
      this.runs.delete(key);
      const halted = status.state === "Halted";
      this.o.log[halted ? "warn" : "info"]({ plugin: name, namespace: ns, token, state: status.state }, status.message);
      this.o.events.track(
        this.o.events.record(
          { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, name, namespace: ns, uid: plugin.metadata.uid },
          halted ? "Warning" : "Normal",
          halted ? "ReloadHalted" : "Reloaded",
          `reload ${JSON.stringify(token)} of sidecar podplug-${name}: ${status.message}`,
        ),
      );
    }
    return status.state;
  }
}
