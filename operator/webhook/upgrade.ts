/**
 * In-place sidecar upgrades of webhook mode: when a Plugin's image changes,
 * running Pods get it by a patch of `spec.initContainers[podplug-<plugin>].image`
 * (a Pod's container images are mutable): the kubelet restarts only that
 * native sidecar, never the host, and the host's client reconnects to the new
 * socket. Paced: at most `maxInFlight` Pods whose new sidecar is not ready yet;
 * the next Pod is patched only once one of them is ready. A new sidecar that
 * fails (its image cannot be pulled, it crash-loops) halts the upgrade: no
 * further Pod is patched until the Plugin changes, so the other Pods keep
 * their old, working sidecar. Only the Pods the upgrader patched (annotated
 * `podplug.io/upgraded-<plugin>: <image>` by the same patch) count: a sidecar
 * failing on the image its Pod was created with is no upgrade's failure. Progress and a halt are the Plugin's
 * `SidecarsUpgraded` condition. Only the image can change in place: other
 * changes (env, volumes, probes) reach new Pods only (docs/injection-modes.md).
 */
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { pluginContainerName, podUpgradedAnnotation } from "../../src/inject/conventions.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin, type PluginCondition } from "../../src/inject/types.ts";
import type { KubeClient } from "../client.ts";
import type { EventRecorder } from "../events.ts";
import { rfc3339Seconds } from "../rfc3339.ts";
import { applyPluginStatus } from "../status-apply.ts";

/** The condition the upgrader owns on each Plugin. */
export const UPGRADE_CONDITION = "SidecarsUpgraded";
const FIELD_MANAGER = "podplug-webhook-upgrade";

/** Waiting reasons of a container that will not come up by itself. */
export const FAILING = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CrashLoopBackOff",
  "CreateContainerError",
  "CreateContainerConfigError",
  "RunContainerError",
  "StartError",
]);

/** Where one Pod stands for one Plugin's image. */
export type PodUpgradeState =
  | { state: "absent" }
  | { state: "old"; index: number; image: string }
  | { state: "progressing" }
  | { state: "done" }
  | { state: "failed"; reason: string; message: string };

/** The state of `pod`'s sidecar of `plugin` against the wanted `image`. */
export function podUpgradeState(pod: V1Pod, plugin: string, image: string): PodUpgradeState {
  const name = pluginContainerName(plugin);
  const index = (pod.spec?.initContainers ?? []).findIndex((c) => c.name === name);
  if (index < 0) return { state: "absent" };
  const specImage = pod.spec!.initContainers![index]!.image ?? "";
  if (specImage !== image) return { state: "old", index, image: specImage };
  // Created with this image (not patched to it): whatever its sidecar does, no upgrade is under way in it.
  if (pod.metadata?.annotations?.[podUpgradedAnnotation(plugin)] !== image) return { state: "done" };
  const st: V1ContainerStatus | undefined = (pod.status?.initContainerStatuses ?? []).find((s) => s.name === name);
  const waiting = st?.state?.waiting;
  if (waiting?.reason && FAILING.has(waiting.reason))
    return { state: "failed", reason: waiting.reason, message: waiting.message ?? "" };
  // The kubelet reports the image it runs; until it runs the new one, the change is on its way.
  if (st?.ready && st.state?.running && sameImage(st.image, image)) return { state: "done" };
  return { state: "progressing" };
}

// The kubelet reports `docker.io/library/x:1` for `x:1`, or the image ID: compare the repository's tail and tag.
function sameImage(reported: string | undefined, wanted: string): boolean {
  if (!reported) return false;
  if (reported === wanted) return true;
  const tail = (s: string) => s.replace(/^(docker\.io\/)?(library\/)?/, "");
  return tail(reported) === tail(wanted) || reported.endsWith(`/${tail(wanted)}`);
}

/** What to do for one Plugin now: the Pods to patch, and the condition to show. */
export interface UpgradePlan {
  /** `annotated`: the Pod has an annotations map (the patch adds a key to it, or the map). */
  patch: { pod: string; index: number; from: string; annotated: boolean }[];
  condition: Omit<PluginCondition, "lastTransitionTime" | "observedGeneration">;
}

/** The kubelet's last word on a container, for a message. */
export function lastWord(pod: V1Pod, container: string): string {
  const st = (pod.status?.initContainerStatuses ?? []).find((s) => s.name === container);
  const s = st?.state;
  if (s?.waiting) return `waiting${s.waiting.reason ? ` ${s.waiting.reason}` : ""}`;
  if (s?.terminated) return `terminated ${s.terminated.reason ?? ""} exit ${s.terminated.exitCode}`.replace("  ", " ");
  if (s?.running) return `running ${st?.image ?? ""}${st?.ready ? "" : ", not ready"}`;
  return "no status";
}

/**
 * The plan for `plugin` over its selected `pods` (carrying it or not), with
 * `maxInFlight` Pods changing at once. `overdue(pod)` is true for a Pod
 * whose new sidecar has been on its way longer than the progress deadline:
 * that counts as a failure (the kubelet may keep an image it cannot pull
 * out of the status for a long while; a Deployment's progressDeadlineSeconds
 * does the same for a rollout).
 */
export function planUpgrade(
  plugin: Readonly<Plugin>,
  pods: readonly V1Pod[],
  maxInFlight: number,
  overdue: (pod: V1Pod) => string | undefined = () => undefined,
): UpgradePlan {
  const image = plugin.spec.image;
  const name = plugin.metadata.name;
  const old: UpgradePlan["patch"] = [];
  let done = 0;
  let progressing = 0;
  const failed: string[] = [];
  for (const p of pods) {
    if (!p.metadata?.name || p.metadata.deletionTimestamp) continue;
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    const s = podUpgradeState(p, name, image);
    if (s.state === "old")
      old.push({
        pod: p.metadata.name,
        index: s.index,
        from: s.image,
        annotated: p.metadata.annotations !== undefined,
      });
    else if (s.state === "done") done++;
    else if (s.state === "progressing") {
      const late = overdue(p);
      if (late) failed.push(`${p.metadata.name}: ${late} (${lastWord(p, pluginContainerName(name))})`);
      else progressing++;
    } else if (s.state === "failed")
      failed.push(`${p.metadata.name}: ${s.reason}${s.message ? ` (${s.message})` : ""}`);
  }
  old.sort((a, b) => a.pod.localeCompare(b.pod));
  const total = old.length + done + progressing + failed.length;
  const counts = `${done} of ${total} pod(s) run image ${image}, ${progressing} upgrading, ${old.length} on an older image`;
  if (failed.length > 0)
    return {
      patch: [],
      condition: {
        type: UPGRADE_CONDITION,
        status: "False",
        reason: "UpgradeHalted",
        message: `the new sidecar podplug-${name} fails in ${failed.join("; ")}: no further pod is upgraded until the Plugin changes (${counts})`,
      },
    };
  const room = Math.max(0, maxInFlight - progressing);
  const patch = old.slice(0, room);
  if (old.length === 0 && progressing === 0)
    return {
      patch,
      condition: { type: UPGRADE_CONDITION, status: "True", reason: "UpToDate", message: counts },
    };
  return {
    patch,
    condition: { type: UPGRADE_CONDITION, status: "False", reason: "Upgrading", message: counts },
  };
}

/** What the upgrader needs. */
export interface UpgraderOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  maxInFlight: number;
  /** How long a patched Pod's new sidecar may take to run and be ready before the upgrade halts. */
  progressDeadlineMs: number;
}

/** Applies plans: patches Pods and writes the condition when it changes. */
export class Upgrader {
  private readonly o: UpgraderOptions;
  private readonly halted = new Set<string>();
  /** When each Pod (uid + wanted image) was first seen on its way to the new image. */
  private readonly since = new Map<string, number>();

  constructor(o: UpgraderOptions) {
    this.o = o;
  }

  /** One step for `plugin` over the Pods its selector matched; returns the upgrade's condition. */
  async step(plugin: Readonly<Plugin>, pods: readonly V1Pod[]): Promise<UpgradePlan["condition"]> {
    const name = plugin.metadata.name;
    const ns = plugin.metadata.namespace ?? "default";
    const now = Date.now();
    const seen = new Set<string>();
    const overdue = (p: V1Pod): string | undefined => {
      const k = `${p.metadata?.uid}/${plugin.spec.image}`;
      seen.add(k);
      const t = this.since.get(k) ?? now;
      this.since.set(k, t);
      const s = Math.round(this.o.progressDeadlineMs / 1000);
      return now - t > this.o.progressDeadlineMs ? `not running and ready on the new image within ${s} s` : undefined;
    };
    const plan = planUpgrade(plugin, pods, this.o.maxInFlight, overdue);
    for (const k of this.since.keys()) if (k.endsWith(`/${plugin.spec.image}`) && !seen.has(k)) this.since.delete(k);
    const key = `${plugin.metadata.uid}/${plugin.metadata.generation}`;
    for (const p of plan.patch) {
      // A test op guards the index: the patch fails rather than change another container.
      await this.o.client.write("PATCH", `/api/v1/namespaces/${ns}/pods/${p.pod}`, {
        contentType: "application/json-patch+json",
        body: [
          { op: "test", path: `/spec/initContainers/${p.index}/name`, value: pluginContainerName(name) },
          { op: "replace", path: `/spec/initContainers/${p.index}/image`, value: plugin.spec.image },
          p.annotated
            ? {
                op: "add",
                path: `/metadata/annotations/${podUpgradedAnnotation(name).replace("/", "~1")}`,
                value: plugin.spec.image,
              }
            : { op: "add", path: "/metadata/annotations", value: { [podUpgradedAnnotation(name)]: plugin.spec.image } },
        ],
      });
      this.o.log.info(
        { plugin: name, namespace: ns, pod: p.pod, from: p.from, to: plugin.spec.image },
        "sidecar image patched in place",
      );
    }
    const have = plugin.status?.conditions?.find((c) => c.type === UPGRADE_CONDITION);
    const c = plan.condition;
    if (c.reason === "UpgradeHalted" && !this.halted.has(key)) {
      this.halted.add(key);
      this.o.events.track(
        this.o.events.record(
          { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, name, namespace: ns, uid: plugin.metadata.uid },
          "Warning",
          "UpgradeHalted",
          c.message,
        ),
      );
    }
    if (have?.status === c.status && have.reason === c.reason && have.message === c.message) return c;
    const condition: PluginCondition = {
      ...c,
      observedGeneration: plugin.metadata.generation,
      lastTransitionTime:
        have?.status === c.status && have.lastTransitionTime ? have.lastTransitionTime : rfc3339Seconds(),
    };
    await applyPluginStatus(this.o.client, FIELD_MANAGER, { name, namespace: ns }, { conditions: [condition] });
    return c;
  }
}
