/**
 * The host workload kinds: their API paths, when one counts as ready, and
 * the few fields of one the operator keeps in memory.
 */
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { CONTAINER_PREFIX, PLUGINS_ANNOTATION } from "../src/inject/conventions.ts";
import type { WorkloadKind } from "../src/inject/types.ts";
import { FIELD_MANAGER } from "./client.ts";
import type { IndexFunc, KubeObject } from "./store.ts";

/**
 * Workload annotation with a hash of podplug's last applied intent: equal to
 * the hash of what it would apply now means there is nothing to send.
 */
export const APPLIED_ANNOTATION = "podplug.io/applied";

/** What the operator reads of a Deployment, StatefulSet or DaemonSet. */
export interface Workload extends KubeObject {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    managedFields?: { manager?: string }[];
  };
  spec?: { replicas?: number; template?: V1PodTemplateSpec };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
    updatedNumberScheduled?: number;
  };
}

const PLURAL: Record<WorkloadKind, string> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
};

/** Collection path of `kind`, cluster-wide or in one namespace. */
export function workloadCollection(kind: WorkloadKind, namespace?: string): string {
  return namespace ? `/apis/apps/v1/namespaces/${namespace}/${PLURAL[kind]}` : `/apis/apps/v1/${PLURAL[kind]}`;
}

/** Path of one workload. */
export function workloadPath(kind: WorkloadKind, namespace: string, name: string): string {
  return `${workloadCollection(kind, namespace)}/${name}`;
}

/** True when the workload's controller has rolled out its current template and all pods are ready. */
export function workloadReady(kind: WorkloadKind, w: Workload): boolean {
  const s = w.status ?? {};
  if ((s.observedGeneration ?? 0) < (w.metadata.generation ?? 0)) return false;
  if (kind === "DaemonSet") {
    const want = s.desiredNumberScheduled ?? 0;
    return want > 0 && s.numberReady === want && s.updatedNumberScheduled === want;
  }
  // As `kubectl rollout status`: every pod runs the current template (no old
  // ReplicaSet's pod still counts) and as many as wanted are available.
  const want = w.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  return updated >= want && (s.replicas ?? 0) <= updated && (s.availableReplicas ?? s.readyReplicas ?? 0) >= want;
}

/** The names in a workload's injected-plugins annotation. */
export function injectedNames(w: Readonly<Workload> | undefined): string[] {
  const a = w?.spec?.template?.metadata?.annotations?.[PLUGINS_ANNOTATION];
  return a ? a.split(",").filter(Boolean) : [];
}

/** True when podplug's field manager owns fields of `w`. */
export function ownsFields(w: Readonly<Workload>): boolean {
  return (w.metadata.managedFields ?? []).some((m) => m.manager === FIELD_MANAGER);
}

const podplugAnnotations = (a: Record<string, string> | undefined): Record<string, string> | undefined => {
  if (!a) return undefined;
  const out = Object.fromEntries(Object.entries(a).filter(([k]) => k.startsWith("podplug.io/")));
  return Object.keys(out).length > 0 ? out : undefined;
};

/**
 * What the operator keeps of a workload: identity, labels, podplug's
 * annotations and field ownership, the host container names, podplug's init
 * containers (name and image), and the rollout status. The rest of the
 * template (often most of the object) is dropped on arrival.
 */
export function trimWorkload(w: Workload): Workload {
  const m = w.metadata;
  const t = w.spec?.template;
  const out: Workload = {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      generation: m.generation,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
      annotations: podplugAnnotations(m.annotations),
      managedFields: (m.managedFields ?? [])
        .filter((f) => f.manager === FIELD_MANAGER)
        .map((f) => ({ manager: f.manager })),
    },
    spec: {
      replicas: w.spec?.replicas,
      template: {
        metadata: { annotations: podplugAnnotations(t?.metadata?.annotations) },
        spec: {
          containers: (t?.spec?.containers ?? []).map((c) => ({ name: c.name })),
          initContainers: (t?.spec?.initContainers ?? [])
            .filter((c) => c.name.startsWith(CONTAINER_PREFIX))
            .map((c) => ({ name: c.name, image: c.image })),
        },
      },
    },
  };
  if (m.deletionTimestamp) out.metadata.deletionTimestamp = m.deletionTimestamp;
  if (w.status) {
    const s = w.status;
    out.status = {
      observedGeneration: s.observedGeneration,
      replicas: s.replicas,
      readyReplicas: s.readyReplicas,
      availableReplicas: s.availableReplicas,
      updatedReplicas: s.updatedReplicas,
      desiredNumberScheduled: s.desiredNumberScheduled,
      numberReady: s.numberReady,
      updatedNumberScheduled: s.updatedNumberScheduled,
    };
  }
  return out;
}

/** Store indexes of workloads: by `label=value` and by injected plugin name. */
export const workloadIndexers: Record<string, IndexFunc<Workload>> = {
  label: (w) => Object.entries(w.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`),
  plugin: (w) => injectedNames(w),
};
