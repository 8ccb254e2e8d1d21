/**
 * A cluster reload (the annotation podplug.io/reload, docs/lifecycle.md) in
 * template mode. Only webhook mode can restart one sidecar in place: template
 * mode may change nothing but workload templates, and any change there rolls
 * the whole Pod, host included, which a reload exists to avoid. So template
 * mode answers the ask instead of ignoring it: status.reload says Unsupported
 * and why, and one Warning Event tells `kubectl describe`.
 */
import { RELOAD_ANNOTATION, RELOAD_TOKEN_MAX } from "../src/inject/conventions.ts";
import type { Plugin, PluginReloadStatus } from "../src/inject/types.ts";
import type { KubeClient } from "./client.ts";
import type { EventRecorder } from "./events.ts";
import { applyPluginStatus } from "./status-apply.ts";
import { pluginTarget } from "./workload-reconciler.ts";

/** Its own field manager: the Plugin reconciler's status applies never remove it. */
const FIELD_MANAGER = "podplug-template-reload";

/** The Event's reason (and the status's `state` is Unsupported). */
export const RELOAD_UNSUPPORTED = "ReloadUnsupported";

/** The status a template-mode reload ask gets, or undefined when there is none or it was answered already. */
export function unsupportedReload(p: Readonly<Plugin>, at: string): PluginReloadStatus | undefined {
  const asked = p.metadata.annotations?.[RELOAD_ANNOTATION]?.trim();
  if (!asked) return undefined;
  const token = asked.slice(0, RELOAD_TOKEN_MAX);
  if (p.status?.reload?.token === token) return undefined;
  return {
    token,
    state: "Unsupported",
    startTime: at,
    completionTime: at,
    podCount: 0,
    reloadedCount: 0,
    reloadedPods: [],
    failedPods: [],
    message: `reload ${JSON.stringify(token)} not done: the operator injects in template mode, where a reload would roll every Pod of the selected workloads, hosts included: no Pod was touched. Reload in place needs webhook mode (the chart's injection.mode=webhook); kubectl rollout restart restarts whole Pods`,
  };
}

/** Writes `reload` into the Plugin's status and posts the Warning. */
export async function answerUnsupportedReload(
  client: KubeClient,
  events: EventRecorder,
  p: Readonly<Plugin>,
  reload: PluginReloadStatus,
): Promise<void> {
  const { name } = p.metadata;
  const namespace = p.metadata.namespace ?? "default";
  await applyPluginStatus(client, FIELD_MANAGER, { name, namespace }, { reload });
  events.track(events.record(pluginTarget(p), "Warning", RELOAD_UNSUPPORTED, reload.message));
}
