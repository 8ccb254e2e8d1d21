/**
 * Server-side apply of a Plugin's status subresource. Each writer (the
 * reconciler, the webhook's watchdog, upgrader and reloader, template mode's
 * reload answer) applies under its own field manager, so it owns only the
 * fields it sends and never drops another writer's.
 */
import { PLUGIN_API_VERSION, PLUGIN_KIND, type PluginStatus } from "../src/inject/types.ts";
import { APPLY_PATCH, type KubeClient } from "./client.ts";
import { pluginPath } from "./finalizer.ts";

/** Applies `status` to the Plugin `namespace/name` as `fieldManager`, forcing conflicts. */
export async function applyPluginStatus(
  client: KubeClient,
  fieldManager: string,
  plugin: { name: string; namespace: string },
  status: PluginStatus,
): Promise<void> {
  const { name, namespace } = plugin;
  await client.write("PATCH", `${pluginPath(namespace, name)}/status`, {
    query: { fieldManager, force: true },
    contentType: APPLY_PATCH,
    body: { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, metadata: { name, namespace }, status },
  });
}
