/**
 * Why an injected workload's pods are not ready, from a read-only Pod watch:
 * an image the node cannot pull, a plugin container that cannot start or
 * keeps exiting, a pod the scheduler cannot place. Only pods podplug injected
 * are watched (label {@link INJECTED_LABEL}), and of each only its name, its
 * workload, the plugins it carries and its problems (usually none) are kept:
 * the rest of a pod is dropped on arrival.
 */
import type { V1ContainerStatus, V1Pod, V1PodTemplateSpec } from "@kubernetes/client-node";
import {
  CONTAINER_PREFIX,
  LAUNCHER_CONTAINER,
  PLUGINS_ANNOTATION,
  pluginContainerName,
  standbyContainerName,
} from "../src/inject/conventions.ts";
import type { PluginStatus } from "../src/inject/types.ts";
import type { EventRecorder, EventTarget } from "./events.ts";
import { runningDigest } from "./image-digest.ts";
import type { IndexFunc, KubeObject } from "./store.ts";

/** Pod template label podplug applies with its sidecars, so the Pod watch sees only injected pods. */
export const INJECTED_LABEL = "podplug.io/injected";

/**
 * Ready reasons a pod problem gives a Plugin, in order of precedence. A
 * plugin container that stopped on a contract error says which in its
 * termination message (`<CODE>: <sentence>`, written by serve() and the
 * launcher): a protocol-version code is ProtocolVersionMismatch, any other
 * code PluginFailed; an exit without one is PluginCrashing.
 */
export const POD_REASONS = [
  "Unschedulable",
  "ImagePullFailed",
  "ProtocolVersionMismatch",
  "PluginFailed",
  "PluginCrashing",
] as const;
export type PodReason = (typeof POD_REASONS)[number];

/** One thing wrong with a pod. `message` is stable across retries; `detail` is the kubelet's or scheduler's words. */
export interface PodProblem {
  reason: PodReason;
  /** The container at fault; absent for the pod as a whole. */
  container?: string;
  message: string;
  detail?: string;
}

/** What the operator keeps of a Pod. */
export interface Pod extends KubeObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  /**
   * `Kind/name` of what runs it: a ReplicaSet's pods are their Deployment's,
   * any other controller is itself (`Job/x`), a Pod without one is `Pod/<name>`.
   */
  workload?: string;
  /** The plugins in its podplug.io/plugins annotation. */
  plugins?: string[];
  problems?: PodProblem[];
  /** Its Ready condition is True. */
  ready?: boolean;
  /** Neither being deleted nor finished (Succeeded, Failed): its sidecars run or are about to. */
  live?: boolean;
  /** Plugin container name → the image digest it runs (its status's imageID), for those that report one. */
  digests?: Record<string, string>;
}

/** Collection path of injected pods, cluster-wide or in one namespace. */
export function podCollection(namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${namespace}/pods` : "/api/v1/pods";
}

const PULL = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"]);
const CRASH = new Set([
  "CrashLoopBackOff",
  "RunContainerError",
  "CreateContainerError",
  "CreateContainerConfigError",
  "StartError",
]);

// Deployment pods are owned by a ReplicaSet `<deployment>-<pod-template-hash>`; other
// controllers (Jobs, bare ReplicaSets, …) are themselves, a Pod without one is itself.
function owner(pod: V1Pod): string {
  const ref = pod.metadata?.ownerReferences?.find((r) => r.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!ref) return `Pod/${pod.metadata?.name ?? ""}`;
  const hash = pod.metadata?.labels?.["pod-template-hash"];
  if (ref.kind === "ReplicaSet" && hash && ref.name.endsWith(`-${hash}`))
    return `Deployment/${ref.name.slice(0, -hash.length - 1)}`;
  return `${ref.kind}/${ref.name}`;
}

/** A termination message's code and sentence: `<CODE>: <sentence>`, the code in capitals and underscores. */
export function codedMessage(message: string | undefined): { code: string; sentence: string } | undefined {
  const m = /^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+): (\S.*)$/s.exec(message?.trim() ?? "");
  return m ? { code: m[1]!, sentence: m[2]! } : undefined;
}

/** True for the codes of a protocol-version refusal (HANDSHAKE_APP_VERSION, HANDSHAKE_CORE_VERSION, the launcher's). */
export const isVersionCode = (code: string): boolean => /(^|_)VERSION(_|$)/.test(code);

function containerProblem(s: V1ContainerStatus): PodProblem | undefined {
  const waiting = s.state?.waiting;
  const term = s.state?.terminated ?? s.lastState?.terminated;
  if (waiting?.reason && PULL.has(waiting.reason))
    return {
      reason: "ImagePullFailed",
      container: s.name,
      message: `container ${s.name} cannot get image ${s.image}: check the image name and that the node has it or can pull it`,
      detail: `${waiting.reason}: ${waiting.message ?? ""}`.trim(),
    };
  const failed = term && (term.exitCode !== 0 || (term.reason !== undefined && CRASH.has(term.reason)));
  const coded = term && !s.ready ? codedMessage(term.message) : undefined;
  if (coded) {
    const version = isVersionCode(coded.code);
    return {
      reason: version ? "ProtocolVersionMismatch" : "PluginFailed",
      container: s.name,
      message: `container ${s.name} stopped with ${coded.code}: ${coded.sentence}`,
    };
  }
  if ((waiting?.reason && CRASH.has(waiting.reason)) || (failed && !s.ready)) {
    const why = term ? ` (last exit: ${term.reason ?? "Error"}, code ${term.exitCode})` : "";
    return {
      reason: "PluginCrashing",
      container: s.name,
      message: `container ${s.name} cannot start or keeps exiting${why}: check the Plugin's image, command and args`,
      detail: term?.message ?? waiting?.message ?? waiting?.reason,
    };
  }
  return undefined;
}

/** The problems of `pod` (none for a pod being deleted). */
export function podProblems(pod: V1Pod): PodProblem[] {
  if (pod.metadata?.deletionTimestamp) return [];
  const out: PodProblem[] = [];
  const sched = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (sched?.status === "False" && sched.reason === "Unschedulable")
    out.push({ reason: "Unschedulable", message: `a pod cannot be scheduled: ${sched.message ?? "no reason given"}` });
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const p = containerProblem(s);
    if (p) out.push(p);
  }
  return out;
}

/** What is kept of a pod: its workload, its plugins and its problems. */
export function trimPod(raw: Pod): Pod {
  const pod = raw as unknown as V1Pod;
  const m = pod.metadata ?? {};
  const out: Pod = {
    metadata: { name: m.name ?? "", namespace: m.namespace ?? "", resourceVersion: m.resourceVersion },
  };
  out.workload = owner(pod);
  const plugins = m.annotations?.[PLUGINS_ANNOTATION]?.split(",").filter(Boolean);
  if (plugins?.length) out.plugins = plugins;
  const problems = podProblems(pod);
  if (problems.length > 0) out.problems = problems;
  if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) out.ready = true;
  const phase = pod.status?.phase;
  if (!m.deletionTimestamp && phase !== "Succeeded" && phase !== "Failed") out.live = true;
  const digests: Record<string, string> = {};
  for (const st of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const d =
      st.name.startsWith(CONTAINER_PREFIX) && st.name !== LAUNCHER_CONTAINER ? runningDigest(st.imageID) : undefined;
    if (d) digests[st.name] = d;
  }
  if (Object.keys(digests).length > 0) out.digests = digests;
  return out;
}

/** Store indexes of pods: by owning workload `Kind/name`, and by the plugins they carry. */
export const podIndexers: Record<string, IndexFunc<Pod>> = {
  workload: (p) => (p.workload ? [p.workload] : []),
  plugin: (p) => p.plugins ?? [],
};

/** True when the two views of a pod report the same problems. */
export function sameProblems(a: Readonly<Pod> | undefined, b: Readonly<Pod> | undefined): boolean {
  return JSON.stringify(a?.problems ?? []) === JSON.stringify(b?.problems ?? []);
}

/** True when the two views of a pod run the same image digests. */
export function sameDigests(a: Readonly<Pod> | undefined, b: Readonly<Pod> | undefined): boolean {
  return JSON.stringify(a?.digests ?? {}) === JSON.stringify(b?.digests ?? {});
}

/** True when the two views of a pod count the same in a webhook-mode status: present, live, ready, same problems and digests. */
export function sameCount(a: Readonly<Pod> | undefined, b: Readonly<Pod> | undefined): boolean {
  return (
    Boolean(a) === Boolean(b) &&
    sameDigests(a, b) &&
    Boolean(a?.live) === Boolean(b?.live) &&
    Boolean(a?.ready) === Boolean(b?.ready) &&
    sameProblems(a, b)
  );
}

/**
 * The problem that explains why plugin `plugin`'s workload `kind/name` is not
 * ready, from its pods: the pod cannot schedule, its or the agent's image
 * cannot be got, or its own container crashes (with `standby`, its standby
 * container too). Another plugin's or the host's failure is not this Plugin's
 * reason.
 */
export function workloadProblem(
  plugin: string,
  kind: string,
  name: string,
  pods: Iterable<Readonly<Pod>>,
  standby = false,
): PodProblem | undefined {
  const own = pluginContainerName(plugin);
  const spare = standby ? standbyContainerName(plugin) : undefined;
  let best: PodProblem | undefined;
  for (const pod of pods)
    for (const p of pod.problems ?? []) {
      const mine =
        p.reason === "Unschedulable" ||
        p.container === own ||
        (spare !== undefined && p.container === spare) ||
        (p.reason === "ImagePullFailed" && p.container === LAUNCHER_CONTAINER);
      if (!mine) continue;
      if (!best || POD_REASONS.indexOf(p.reason) < POD_REASONS.indexOf(best.reason)) best = p;
    }
  return best && { ...best, message: `${kind} ${name}: ${best.message}` };
}

/** Adds {@link INJECTED_LABEL} to an injected template (podplug owns it by server-side apply). */
export function injectedLabel(spec: { template: V1PodTemplateSpec }): void {
  const m = (spec.template.metadata ??= {});
  m.labels = { ...m.labels, [INJECTED_LABEL]: "true" };
}

/**
 * Posts a Warning Event when a Plugin's Ready reason becomes a pod problem's
 * (or its message changes), with the kubelet's or scheduler's own words.
 */
export function announceProblem(
  events: EventRecorder,
  target: EventTarget,
  before: PluginStatus | undefined,
  after: PluginStatus,
  views: readonly { problem?: { message: string } }[],
): void {
  const ready = (s: PluginStatus | undefined) => s?.conditions?.find((c) => c.type === "Ready");
  const now = ready(after);
  if (!now || !(POD_REASONS as readonly string[]).includes(now.reason)) return;
  const was = ready(before);
  if (was?.reason === now.reason && was.message === now.message) return;
  const problem = views.find((v) => v.problem?.message === now.message)?.problem as PodProblem | undefined;
  const detail = problem?.detail ? ` (${problem.detail})` : "";
  events.track(events.record(target, "Warning", now.reason, `${now.message}${detail}`));
}
