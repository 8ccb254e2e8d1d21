/**
 * What the webhook does to one Pod, as a pure function: which Plugins select
 * it, the pure `inject()` over its spec (a Pod's metadata and spec are a pod
 * template's), and the JSON Patch from the Pod as it came to the Pod as it
 * must be. Shared by the webhook and `podplug inject`, so the dry-run prints
 * exactly what the webhook would do.
 */
import type { V1ObjectMeta, V1Pod, V1PodSpec, V1PodTemplateSpec } from "@kubernetes/client-node";
import { inject } from "../../src/inject/inject.ts";
import { pluginSelects } from "../../src/inject/selector.ts";
import type { Plugin, WorkloadKind } from "../../src/inject/types.ts";
import { versionRefusal } from "../../src/inject/version-constraints.ts";
import { INJECTED_LABEL } from "../pod-status.ts";

/**
 * Opt-out: a Pod (or a pod template, whose annotations its Pods inherit) with
 * this annotation or label set to "false" is never injected. The label lets
 * the MutatingWebhookConfiguration's objectSelector skip the call altogether.
 */
export const INJECT_ANNOTATION = "podplug.io/inject";

/** Settings of the injection into Pods (the operator's flags). */
export interface PodInjectionOptions {
  launcherImage: string;
}

/** One RFC 6902 operation; the webhook only adds (replaces) and removes whole fields. */
export interface PatchOp {
  op: "add" | "remove";
  path: string;
  value?: unknown;
}

/** The outcome for one Pod. */
export type PodInjection =
  | { injected: true; plugins: string[]; pod: V1Pod; patch: PatchOp[]; refused: string[] }
  | { injected: false; reason: "opted-out" | "no-plugin"; refused: string[] };

/**
 * The workload kind a Plugin's `workloadKinds` is compared with, from the Pod's
 * controller: a ReplicaSet's Pods are a Deployment's (a bare ReplicaSet is
 * treated the same); StatefulSets and DaemonSets are themselves; Jobs,
 * CronJobs, bare Pods and any other controller are "Pod", which every Plugin
 * takes (workloadKinds names only the three template-mode kinds).
 */
export function controllerKind(meta: V1ObjectMeta | undefined): WorkloadKind | "Pod" {
  const ref = meta?.ownerReferences?.find((r) => r.controller) ?? meta?.ownerReferences?.[0];
  switch (ref?.kind) {
    case "ReplicaSet":
    case "Deployment":
      return "Deployment";
    case "StatefulSet":
      return "StatefulSet";
    case "DaemonSet":
      return "DaemonSet";
    default:
      return "Pod";
  }
}

/** True when the Pod (or template) opted out by annotation or label. */
export function optedOut(meta: V1ObjectMeta | undefined): boolean {
  return meta?.annotations?.[INJECT_ANNOTATION] === "false" || meta?.labels?.[INJECT_ANNOTATION] === "false";
}

/**
 * The Plugins of `plugins` (any namespace) that go into a Pod of `namespace`
 * with this metadata: same namespace, live, kind allowed, selector matching
 * the Pod's own labels (in webhook mode there is no workload to read labels
 * from: a Pod at admission is all there is; docs/injection-modes.md).
 */
export function selectingPlugins(
  plugins: Iterable<Readonly<Plugin>>,
  namespace: string,
  meta: V1ObjectMeta | undefined,
): Plugin[] {
  const kind = controllerKind(meta);
  const out: Plugin[] = [];
  for (const p of plugins) {
    if ((p.metadata.namespace ?? "default") !== namespace) continue;
    if (pluginSelects(p, kind, meta?.labels)) out.push(p as Plugin);
  }
  return out;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

// The fields inject() writes on a Pod.
const FIELDS: { path: string; get: (p: V1Pod) => unknown }[] = [
  { path: "/metadata/labels", get: (p) => p.metadata?.labels },
  { path: "/metadata/annotations", get: (p) => p.metadata?.annotations },
  { path: "/spec/initContainers", get: (p) => p.spec?.initContainers },
  { path: "/spec/containers", get: (p) => p.spec?.containers },
  { path: "/spec/volumes", get: (p) => p.spec?.volumes },
];

/** The patch that turns `before` into `after` for the fields the injection writes (whole fields, add = replace). */
export function podPatch(before: V1Pod, after: V1Pod): PatchOp[] {
  const ops: PatchOp[] = [];
  if (!before.metadata) ops.push({ op: "add", path: "/metadata", value: {} });
  for (const f of FIELDS) {
    const a = f.get(before);
    const b = f.get(after);
    if (same(a, b)) continue;
    if (b === undefined) ops.push({ op: "remove", path: f.path });
    else ops.push({ op: "add", path: f.path, value: b });
  }
  return ops;
}

/**
 * Injects the Plugins that select `pod` (in `namespace`) into it. Throws
 * InjectError (with its code) when the injection refuses the Pod or a Plugin;
 * the Pod is not mutated.
 */
export function injectPod(
  pod: V1Pod,
  namespace: string,
  plugins: Iterable<Readonly<Plugin>>,
  opts: PodInjectionOptions,
): PodInjection {
  if (optedOut(pod.metadata)) return { injected: false, reason: "opted-out", refused: [] };
  const template: V1PodTemplateSpec = { metadata: pod.metadata ?? {}, spec: pod.spec as V1PodSpec };
  // As in template mode: a Plugin outside the Pod's podplug.io/plugin-versions stays out (said in a
  // warning), the others are injected.
  const refused: string[] = [];
  const chosen = selectingPlugins(plugins, namespace, pod.metadata).filter((p) => {
    const why = versionRefusal(pod.metadata, p);
    if (why !== undefined) refused.push(why);
    return why === undefined;
  });
  if (chosen.length === 0) return { injected: false, reason: "no-plugin", refused };
  const out = inject(template, chosen, {
    launcherImage: opts.launcherImage,
    autoMTLS: true,
    scratch: true,
    reload: true,
  });
  // The label the operator's Pod watch selects on (operator/pod-status.ts), as template mode applies it.
  const metadata = { ...out.metadata, labels: { ...out.metadata?.labels, [INJECTED_LABEL]: "true" } };
  const injected: V1Pod = { ...pod, metadata, spec: out.spec };
  return {
    injected: true,
    plugins: chosen.map((p) => p.metadata.name).sort(),
    pod: injected,
    patch: podPatch(pod, injected),
    refused,
  };
}
