/** The host workload kinds: their API paths, and when one counts as ready. */
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import type { WorkloadKind } from "../src/inject/types.ts";
import type { KubeObject } from "./watcher.ts";

/** What the operator reads of a Deployment, StatefulSet or DaemonSet. */
export interface Workload extends KubeObject {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
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
  const want = w.spec?.replicas ?? 1;
  return (s.readyReplicas ?? 0) >= want && (s.updatedReplicas ?? 0) >= want;
}
