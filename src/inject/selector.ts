/** metav1.LabelSelector matching, as the apiserver defines it, and which Plugins a workload takes. */
import type { V1LabelSelector } from "@kubernetes/client-node";
import { type Plugin, WORKLOAD_KINDS, type WorkloadKind } from "./types.ts";

/** True when `labels` satisfy `selector`; an empty selector matches nothing (the CRD forbids it). */
export function selectorMatches(
  selector: V1LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  const ml = Object.entries(selector.matchLabels ?? {});
  const me = selector.matchExpressions ?? [];
  if (ml.length === 0 && me.length === 0) return false;
  for (const [k, v] of ml) if (l[k] !== v) return false;
  for (const e of me) {
    const has = Object.hasOwn(l, e.key);
    const vals = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || !vals.includes(l[e.key]!)) return false;
        break;
      case "NotIn":
        if (has && vals.includes(l[e.key]!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * The one rule for "does this Plugin go into this workload": the Plugin is
 * live (not being deleted), `kind` is among its `workloadKinds` (default all),
 * and its selector matches the workload's labels. A bare `Pod` (the local
 * runtime's; the operator injects only into workloads) is taken whatever
 * `workloadKinds` says, since that field names workload kinds only.
 * Namespaces are the caller's to compare (a Plugin selects only in its own).
 */
export function pluginSelects(
  plugin: Pick<Plugin, "metadata" | "spec">,
  kind: WorkloadKind | "Pod",
  labels: Record<string, string> | undefined,
): boolean {
  if (plugin.metadata.deletionTimestamp) return false;
  if (kind !== "Pod" && !(plugin.spec.workloadKinds ?? WORKLOAD_KINDS).includes(kind)) return false;
  return selectorMatches(plugin.spec.selector, labels);
}
