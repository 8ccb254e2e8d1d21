/**
 * A Plugin's status from what the operator sees: the workloads that carry it,
 * how many are ready, and the Ready/Injected conditions with
 * observedGeneration. Pure; lastTransitionTime moves only when a condition's
 * status does.
 */
import type { Plugin, PluginCondition, PluginStatus, PluginWorkloadRef, WorkloadKind } from "../src/inject/types.ts";

/** One workload as the status sees it. */
export interface WorkloadView {
  kind: WorkloadKind;
  name: string;
  /** The plugin is in the workload's injected template. */
  injected: boolean;
  /** The workload's pods run the current template and are ready. */
  ready: boolean;
  /** Why it is not ready, when its pods say (pod-status.ts). */
  problem?: { reason: string; message: string };
}

function condition(
  prev: PluginCondition[] | undefined,
  type: string,
  status: PluginCondition["status"],
  reason: string,
  message: string,
  generation: number,
  now: string,
): PluginCondition {
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status,
    reason,
    message,
    observedGeneration: generation,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
  };
}

/**
 * The status for `plugin` given the workloads it selects or is in.
 * `error` (from the last apply) turns Injected False with reason InjectFailed.
 */
export function computeStatus(plugin: Plugin, views: WorkloadView[], now: string, error?: string): PluginStatus {
  const gen = plugin.metadata.generation ?? 0;
  const prev = plugin.status?.conditions;
  const injected = views.filter((v) => v.injected);
  const pending = views.filter((v) => !v.injected);
  const ready = injected.filter((v) => v.ready);
  const workloads: PluginWorkloadRef[] = injected
    .map((v) => ({ kind: v.kind, name: v.name, ready: v.ready }))
    .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));

  let inj: PluginCondition;
  if (error) inj = condition(prev, "Injected", "False", "InjectFailed", error, gen, now);
  else if (views.length === 0)
    inj = condition(
      prev,
      "Injected",
      "False",
      "NoWorkloads",
      "no Deployment, StatefulSet or DaemonSet in this namespace matches spec.selector",
      gen,
      now,
    );
  else if (pending.length > 0)
    inj = condition(
      prev,
      "Injected",
      "False",
      "Injecting",
      `${injected.length} of ${views.length} selected workloads carry the sidecar`,
      gen,
      now,
    );
  else
    inj = condition(
      prev,
      "Injected",
      "True",
      "Injected",
      `all ${views.length} selected workloads carry the sidecar`,
      gen,
      now,
    );

  // The first not-ready workload whose pods say why gives the reason (views come sorted by the caller).
  const problem = injected.find((v) => !v.ready && v.problem)?.problem;
  let rdy: PluginCondition;
  if (inj.status !== "True") rdy = condition(prev, "Ready", "False", inj.reason, inj.message, gen, now);
  else if (problem) rdy = condition(prev, "Ready", "False", problem.reason, problem.message, gen, now);
  else if (ready.length < injected.length)
    rdy = condition(
      prev,
      "Ready",
      "False",
      "WorkloadsNotReady",
      `${ready.length} of ${injected.length} workloads have rolled out and are ready`,
      gen,
      now,
    );
  else
    rdy = condition(
      prev,
      "Ready",
      "True",
      "Ready",
      `all ${injected.length} workloads have rolled out and are ready`,
      gen,
      now,
    );

  return {
    observedGeneration: gen,
    workloadCount: injected.length,
    readyWorkloadCount: ready.length,
    workloads,
    conditions: [rdy, inj],
  };
}

/** Webhook mode: what runs Pods that carry the plugin (a controller, or a Pod without one), as the status sees it. */
export interface PodGroupView {
  kind: string;
  name: string;
  /** Its live Pods that carry the sidecar, and of those the ready ones. */
  pods: number;
  readyPods: number;
  /** Why some are not ready, when their pods say (pod-status.ts). */
  problem?: { reason: string; message: string };
}

/**
 * The status for `plugin` in webhook mode, from the live Pods that carry its
 * sidecar (the webhook injects Pods, templates are never touched): grouped by
 * what runs them; a group is ready when all its carrying Pods are. Injected
 * is True once any live Pod carries it (the watchdog's SidecarsInjected
 * reports selected Pods without it), Ready once every one of them is ready.
 */
export function computePodStatus(plugin: Plugin, groups: PodGroupView[], now: string): PluginStatus {
  const gen = plugin.metadata.generation ?? 0;
  const prev = plugin.status?.conditions;
  const sorted = [...groups].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  const pods = sorted.reduce((n, g) => n + g.pods, 0);
  const readyPods = sorted.reduce((n, g) => n + g.readyPods, 0);
  const readyGroups = sorted.filter((g) => g.readyPods === g.pods);
  const inj =
    pods === 0
      ? condition(
          prev,
          "Injected",
          "False",
          "NoPods",
          "no live Pod carries the sidecar: the webhook injects Pods at their creation when their labels match spec.selector",
          gen,
          now,
        )
      : condition(
          prev,
          "Injected",
          "True",
          "Injected",
          `${pods} pod(s) of ${sorted.length} workload(s) carry the sidecar`,
          gen,
          now,
        );
  const problem = sorted.find((g) => g.readyPods < g.pods && g.problem)?.problem;
  let rdy: PluginCondition;
  if (inj.status !== "True") rdy = condition(prev, "Ready", "False", inj.reason, inj.message, gen, now);
  else if (problem) rdy = condition(prev, "Ready", "False", problem.reason, problem.message, gen, now);
  else if (readyPods < pods)
    rdy = condition(
      prev,
      "Ready",
      "False",
      "PodsNotReady",
      `${readyPods} of ${pods} pods that carry the sidecar are ready`,
      gen,
      now,
    );
  else rdy = condition(prev, "Ready", "True", "Ready", `all ${pods} pods that carry the sidecar are ready`, gen, now);
  return {
    observedGeneration: gen,
    workloadCount: sorted.length,
    readyWorkloadCount: readyGroups.length,
    podCount: pods,
    readyPodCount: readyPods,
    workloads: sorted.map((g) => ({ kind: g.kind, name: g.name, ready: g.readyPods === g.pods, pods: g.pods })),
    conditions: [rdy, inj],
  };
}

/** The condition types the Plugin reconciler owns (others belong to the webhook's watchdog and upgrader). */
export const OWN_CONDITIONS: readonly string[] = ["Ready", "Injected", "ImageDigest"];

/**
 * `status` with what it says about image digests: `pinned` (the digest
 * spec.image pins) as imageDigest and an ImageDigest condition — False
 * `ImageDigestMismatch` naming each workload whose pods report another
 * digest, else True — and each workload's `digests` (those its pods'
 * plugin containers report running). A `refusal` (the digest policy, or a
 * malformed digest) turns Injected and Ready False with its reason: nothing
 * of this Plugin is injected.
 */
export function withDigests(
  plugin: Plugin,
  status: PluginStatus,
  running: ReadonlyMap<string, readonly string[]>,
  now: string,
  pinned: string | undefined,
  refusal?: { reason: string; message: string },
): PluginStatus {
  const gen = plugin.metadata.generation ?? 0;
  const prev = plugin.status?.conditions;
  const workloads = (status.workloads ?? []).map((w) => {
    const d = running.get(`${w.kind}/${w.name}`);
    return d && d.length > 0 ? { ...w, digests: [...d].sort() } : w;
  });
  let conditions = status.conditions ?? [];
  if (refusal)
    conditions = [
      condition(prev, "Ready", "False", refusal.reason, refusal.message, gen, now),
      condition(prev, "Injected", "False", refusal.reason, refusal.message, gen, now),
    ];
  const out: PluginStatus = { ...status, workloads };
  if (pinned) {
    out.imageDigest = pinned;
    const off = workloads
      .filter((w) => (w.digests ?? []).some((d) => d !== pinned))
      .map((w) => `${w.kind} ${w.name} runs ${(w.digests ?? []).filter((d) => d !== pinned).join(", ")}`);
    conditions = [
      ...conditions,
      off.length > 0
        ? condition(
            prev,
            "ImageDigest",
            "False",
            "ImageDigestMismatch",
            `pods run another image than the pinned ${pinned}: ${off.join("; ")} (a rollout in progress, or a tag moved under a digest-less pull: check the pods' images)`,
            gen,
            now,
          )
        : condition(
            prev,
            "ImageDigest",
            "True",
            "PinnedDigestRunning",
            `every pod that reports its image runs the pinned ${pinned}`,
            gen,
            now,
          ),
    ];
  }
  out.conditions = conditions;
  return out;
}

/**
 * True when `a` (the stored status) already says what `b` (the computed one)
 * does, timestamps included (they are carried over). Only the reconciler's
 * own condition types ({@link OWN_CONDITIONS}) are compared: others in `a` belong to other field managers (the
 * webhook's watchdog and upgrader) and a status apply leaves them alone, so
 * they must not make every reconcile write.
 */
export function sameStatus(a: PluginStatus | undefined, b: PluginStatus): boolean {
  const own = new Set(OWN_CONDITIONS);
  return JSON.stringify(normalise(a, own)) === JSON.stringify(normalise(b, own));
}

function normalise(s: PluginStatus | undefined, own: ReadonlySet<string>): unknown {
  if (!s) return undefined;
  return {
    observedGeneration: s.observedGeneration ?? 0,
    workloadCount: s.workloadCount ?? 0,
    readyWorkloadCount: s.readyWorkloadCount ?? 0,
    podCount: s.podCount ?? null,
    readyPodCount: s.readyPodCount ?? null,
    imageDigest: s.imageDigest ?? null,
    workloads: (s.workloads ?? []).map((w) => ({
      kind: w.kind,
      name: w.name,
      ready: w.ready ?? false,
      pods: w.pods ?? null,
      digests: w.digests ?? null,
    })),
    conditions: (s.conditions ?? [])
      .filter((c) => own.has(c.type))
      .map((c) => ({ ...c }))
      .sort((x, y) => x.type.localeCompare(y.type))
      .map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration ?? 0, c.lastTransitionTime]),
  };
}
