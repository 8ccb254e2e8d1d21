/**
 * The Plugin finalizer: set while the Plugin exists, so that deleting it
 * first removes its sidecar from every workload. Added and removed by
 * server-side apply with podplug's field manager, so finalizers of others
 * are never touched.
 */
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin } from "../src/inject/types.ts";
import { APPLY_PATCH, FIELD_MANAGER, type KubeClient } from "./client.ts";

/** podplug's finalizer name. */
export const FINALIZER = "podplug.io/cleanup";

/** Path of one Plugin. */
export function pluginPath(namespace: string, name: string): string {
  return `/apis/podplug.io/v1alpha1/namespaces/${namespace}/plugins/${name}`;
}

/** True when podplug's finalizer is on the Plugin. */
export function hasFinalizer(p: Plugin): boolean {
  return (p.metadata.finalizers ?? []).includes(FINALIZER);
}

async function applyFinalizers(client: KubeClient, p: Plugin, finalizers: string[]): Promise<void> {
  const ns = p.metadata.namespace ?? "default";
  const metadata: Record<string, unknown> = { name: p.metadata.name, namespace: ns };
  if (finalizers.length > 0) metadata.finalizers = finalizers;
  await client.write("PATCH", pluginPath(ns, p.metadata.name), {
    query: { fieldManager: FIELD_MANAGER, force: true },
    contentType: APPLY_PATCH,
    body: { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, metadata },
  });
}

/** Makes podplug own the finalizer on `p`. */
export function addFinalizer(client: KubeClient, p: Plugin): Promise<void> {
  return applyFinalizers(client, p, [FINALIZER]);
}

/** Drops podplug's finalizer (applying nothing releases what podplug owned). */
export function removeFinalizer(client: KubeClient, p: Plugin): Promise<void> {
  return applyFinalizers(client, p, []);
}
