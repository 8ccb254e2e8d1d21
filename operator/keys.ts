/**
 * Typed references to the objects the controllers reconcile, as
 * controller-runtime's `reconcile.Request` and kube-rs's `ObjectRef`: a
 * reconcile is handed a reference and reads the object from the cache; the
 * reference is never a string to be parsed back.
 */
import type { WorkloadKind } from "../src/inject/types.ts";

/** The kinds the operator reconciles. */
export type ObjectKind = "Plugin" | WorkloadKind;

/** A namespaced object of kind `K`. */
export interface ObjectRef<K extends ObjectKind = ObjectKind> {
  readonly kind: K;
  readonly namespace: string;
  readonly name: string;
}

/** A reference to a Plugin. */
export type PluginRef = ObjectRef<"Plugin">;
/** A reference to a host workload. */
export type WorkloadRef = ObjectRef<WorkloadKind>;

/** A reference to `kind` `namespace/name`. */
export function objectRef<K extends ObjectKind>(kind: K, namespace: string, name: string): ObjectRef<K> {
  return { kind, namespace, name };
}

/** The identity of `r` for maps and queues (an opaque string, never parsed). */
export function refId(r: ObjectRef): string {
  return `${r.kind}\0${r.namespace}\0${r.name}`;
}

/** `Kind namespace/name`, for logs and messages. */
export function describeRef(r: ObjectRef): string {
  return `${r.kind} ${r.namespace}/${r.name}`;
}
