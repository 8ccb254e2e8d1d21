/**
 * The workload reconciler: applies podplug's fields to one workload's pod
 * template by server-side apply (field manager `podplug`): the injection of
 * the Plugins that select it over a skeleton holding only the host container
 * names. No matching Plugin means an empty apply, which releases (and so
 * removes) exactly the fields podplug owned; fields of other managers are
 * never sent. Nothing is sent when the workload already carries what would be
 * applied (the hash of the intent in {@link APPLIED_ANNOTATION}, podplug's
 * field ownership and its init containers agree), so a restart or a resync
 * writes nothing.
 */
import { createHash } from "node:crypto";
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { pluginContainerName } from "../src/inject/conventions.ts";
import { InjectError } from "../src/inject/errors.ts";
import { inject } from "../src/inject/inject.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin } from "../src/inject/types.ts";
import { PLUGIN_VERSIONS_ANNOTATION, versionRefusal } from "../src/inject/version-constraints.ts";
import type { ApplyErrors } from "./apply-errors.ts";
import type { Cache } from "./cache.ts";
import { APPLY_PATCH, FIELD_MANAGER, type KubeClient } from "./client.ts";
import { type Action, awaitChange, type Reconciler } from "./controller.ts";
import { KubeApiError, TerminalError } from "./errors.ts";
import type { EventRecorder, EventTarget } from "./events.ts";
import { digestRefusal } from "./image-digest.ts";
import { objectRef, type PluginRef, refId, type WorkloadRef } from "./keys.ts";
import { injectedLabel } from "./pod-status.ts";
import { APPLIED_ANNOTATION, injectedNames, ownsFields, type Workload, workloadPath } from "./workloads.ts";

/** What the workload reconciler needs besides the cache. */
export interface WorkloadReconcilerDeps {
  client: KubeClient;
  cache: Cache;
  events: EventRecorder;
  errors: ApplyErrors;
  log: Logger;
  launcherImage: string;
  /** Queues a Plugin's status reconcile. */
  enqueuePlugin(ref: PluginRef): void;
  /** Inject only Plugins whose spec.image pins a digest. */
  requireImageDigests?: boolean;
}

/** The Event target of a Plugin. */
export function pluginTarget(p: Readonly<Plugin>): EventTarget {
  return {
    apiVersion: PLUGIN_API_VERSION,
    kind: PLUGIN_KIND,
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? "default",
    uid: p.metadata.uid,
  };
}

/** The hash podplug stores of an apply body (without the hash itself). */
export function intentHash(body: unknown): string {
  return createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 32);
}

/**
 * What the last computed apply body of a workload came from and what it
 * holds: the inputs' fingerprint (the Plugins' uid/generation, the host
 * container names), its intent hash and podplug's init containers. Kept
 * instead of the body (a few dozen bytes, not kilobytes, per workload).
 */
interface Intent {
  inputs: string;
  /** The workload's own part of the inputs ({@link ownInputs}). */
  own: string;
  labels: string;
  hash: string;
  init: string;
}

const initList = (cs: readonly { name: string; image?: string }[] | undefined): string =>
  (cs ?? []).map((c) => `${c.name}=${c.image}`).join(",");
const hostNamesOf = (w: Readonly<Workload>): string[] => (w.spec?.template?.spec?.containers ?? []).map((c) => c.name);
const labelsOf = (w: Readonly<Workload>): string => JSON.stringify(w.metadata.labels ?? {});
/** What of the workload itself goes into its body: the host container names and its plugin-versions constraint. */
const ownInputs = (w: Readonly<Workload>): string =>
  JSON.stringify([hostNamesOf(w), w.spec?.template?.metadata?.annotations?.[PLUGIN_VERSIONS_ANNOTATION] ?? null]);

/** Reconciles one Deployment, StatefulSet or DaemonSet. */
export class WorkloadReconciler implements Reconciler<WorkloadRef> {
  private readonly d: WorkloadReconcilerDeps;
  /** The last intent per workload (refId), so an unchanged workload costs no injection and no hash. */
  private readonly intents = new Map<string, Intent>();

  constructor(deps: WorkloadReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(ref: WorkloadRef): Promise<Action> {
    const { kind, namespace: ns, name } = ref;
    const w = this.d.cache.workload(ref);
    if (!w) {
      this.intents.delete(refId(ref));
      return awaitChange;
    }
    const pref = (p: Readonly<Plugin>): PluginRef => objectRef("Plugin", ns, p.metadata.name);
    // A Plugin whose sidecar name a host container already uses cannot join this
    // workload; it is reported and the others still are injected.
    const hostNames = new Set(hostNamesOf(w));
    const plugins: Readonly<Plugin>[] = [];
    for (const p of this.d.cache.pluginsFor(kind, w)) {
      // Refused by the digest policy (or a malformed digest): not injected; its status says why.
      if (digestRefusal(p, this.d.requireImageDigests ?? false)) continue;
      if (hostNames.has(pluginContainerName(p.metadata.name))) {
        this.fail(
          p,
          ref,
          `${kind} ${name}: the host container ${pluginContainerName(p.metadata.name)} uses the name of this plugin's sidecar (the podplug- prefix is podplug's): rename the container`,
        );
      } else if (!this.versionAccepted(w, ref, p)) {
        // Reported; the workload does not get (or keeps no longer) a version it refuses.
      } else plugins.push(p);
    }
    const before = injectedNames(w);
    if (plugins.length === 0 && before.length === 0 && !ownsFields(w)) return awaitChange;

    // The same inputs as last time give the same body: compare without building it again.
    const inputs = fingerprint(w, plugins);
    const known = this.intents.get(refId(ref));
    if (known?.inputs === inputs && upToDate(w, known, plugins.length > 0)) {
      for (const p of plugins) if (this.d.errors.clear(pref(p), ref)) this.d.enqueuePlugin(pref(p));
      return awaitChange;
    }
    const body = this.body(w, ref, plugins);
    const intent = intentOf(body, inputs, w);
    this.intents.set(refId(ref), intent);
    if (upToDate(w, intent, plugins.length > 0)) {
      for (const p of plugins) if (this.d.errors.clear(pref(p), ref)) this.d.enqueuePlugin(pref(p));
      return awaitChange;
    }
    const log = this.d.log.child({ workload: `${kind}/${ns}/${name}` });
    log.debug(
      {
        plugins: plugins.map((p) => p.metadata.name),
        had: before,
        stored: w.metadata.annotations?.[APPLIED_ANNOTATION],
      },
      "applying",
    );
    try {
      await this.d.client.write("PATCH", workloadPath(kind, ns, name), {
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: APPLY_PATCH,
        body,
      });
    } catch (err) {
      this.intents.delete(refId(ref));
      if (err instanceof KubeApiError && err.status === 404) return awaitChange;
      if (err instanceof KubeApiError && (err.status === 422 || err.status === 400)) {
        for (const p of plugins) this.fail(p, ref, `${kind} ${name}: ${err.message}`);
        throw new TerminalError(`${kind} ${ns}/${name}: the apiserver refused podplug's apply: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
    const after = plugins.map((p) => p.metadata.name);
    for (const p of plugins) {
      if (this.d.errors.clear(pref(p), ref)) this.d.enqueuePlugin(pref(p));
      if (!before.includes(p.metadata.name)) {
        log.info({ plugin: p.metadata.name }, "injected");
        this.d.events.note(
          pluginTarget(p),
          "Normal",
          "Injected",
          `sidecar ${pluginContainerName(p.metadata.name)} added to`,
          `${kind} ${name}`,
        );
      }
    }
    for (const n of before) {
      if (after.includes(n)) continue;
      log.info({ plugin: n }, "removed");
      const p = this.d.cache.plugin(objectRef("Plugin", ns, n));
      if (p)
        this.d.events.note(
          pluginTarget(p),
          "Normal",
          "Removed",
          `sidecar ${pluginContainerName(n)} removed from`,
          `${kind} ${name}`,
        );
    }
    for (const n of new Set([...before, ...after])) this.d.enqueuePlugin(objectRef("Plugin", ns, n));
    return awaitChange;
  }

  /**
   * True when `next` is the answer to podplug's own last apply of it and
   * nothing a reconcile reads changed with it (labels, host containers,
   * podplug's fields as applied): reconciling it again would send nothing,
   * so its watch event need not queue it. Changes of the Plugins queue their
   * workloads themselves.
   */
  ownWrite(ref: WorkloadRef, next: Readonly<Workload>, prev: Readonly<Workload> | undefined): boolean {
    const known = this.intents.get(refId(ref));
    if (!known || !prev) return false;
    const hash = next.metadata.annotations?.[APPLIED_ANNOTATION];
    if (hash === undefined || hash !== known.hash || prev.metadata.annotations?.[APPLIED_ANNOTATION] === hash)
      return false;
    return known.labels === labelsOf(next) && known.own === ownInputs(next) && upToDate(next, known, true);
  }

  /** The apply body: the injection over a skeleton of the host container names, and the intent's hash. */
  private body(w: Readonly<Workload>, ref: WorkloadRef, plugins: Readonly<Plugin>[]): Record<string, unknown> {
    const { kind, namespace, name } = ref;
    const body: Record<string, unknown> = { apiVersion: "apps/v1", kind, metadata: { name, namespace } };
    if (plugins.length === 0) return body;
    // Only the host container names: podplug sends nothing it does not own.
    const skeleton: V1PodTemplateSpec = {
      spec: { containers: (w.spec?.template?.spec?.containers ?? []).map((c) => ({ name: c.name })) },
    };
    // The workload's version constraints are checked by the injection, but stay the workload's own field.
    const constraint = w.spec?.template?.metadata?.annotations?.[PLUGIN_VERSIONS_ANNOTATION];
    if (constraint !== undefined) skeleton.metadata = { annotations: { [PLUGIN_VERSIONS_ANNOTATION]: constraint } };
    try {
      const template = inject(skeleton, plugins as Plugin[], {
        launcherImage: this.d.launcherImage,
        autoMTLS: true,
        scratch: true,
      });
      delete template.metadata?.annotations?.[PLUGIN_VERSIONS_ANNOTATION];
      body.spec = { template };
      injectedLabel(body.spec as { template: V1PodTemplateSpec });
    } catch (err) {
      if (!(err instanceof InjectError)) throw err;
      for (const p of plugins) this.fail(p, ref, `${kind} ${name}: ${err.message}`);
      throw new TerminalError(`${kind} ${namespace}/${name}: ${err.message}`, { cause: err });
    }
    body.metadata = { name, namespace, annotations: { [APPLIED_ANNOTATION]: intentHash(body) } };
    return body;
  }

  /** False (reported as InjectFailed) when the workload's podplug.io/plugin-versions refuses `p`'s version. */
  private versionAccepted(w: Readonly<Workload>, ref: WorkloadRef, p: Readonly<Plugin>): boolean {
    const why = versionRefusal(w.spec?.template?.metadata, p);
    if (why !== undefined) this.fail(p, ref, `${ref.kind} ${ref.name}: ${why}`);
    return why === undefined;
  }

  // The Plugin's status shows the error: its reconcile is queued to write it.
  private fail(p: Readonly<Plugin>, ref: WorkloadRef, message: string): void {
    const pr = objectRef("Plugin", ref.namespace, p.metadata.name);
    if (this.d.errors.set(pr, ref, message)) this.d.enqueuePlugin(pr);
    this.d.events.track(this.d.events.record(pluginTarget(p), "Warning", "InjectFailed", message));
  }
}

/** What a body depends on besides the workload's identity: each Plugin's uid and generation, then the workload's own inputs. */
function fingerprint(w: Readonly<Workload>, plugins: readonly Readonly<Plugin>[]): string {
  const ps = plugins.map((p) => `${p.metadata.name}/${p.metadata.uid ?? ""}/${p.metadata.generation ?? 0}`);
  return `${ps.join(",")}|${ownInputs(w)}`;
}

function intentOf(body: Record<string, unknown>, inputs: string, w: Readonly<Workload>): Intent {
  const meta = body.metadata as { annotations?: Record<string, string> };
  const spec = body.spec as { template: V1PodTemplateSpec } | undefined;
  return {
    inputs,
    own: ownInputs(w),
    labels: labelsOf(w),
    hash: meta.annotations?.[APPLIED_ANNOTATION] ?? "",
    init: initList(spec?.template.spec?.initContainers),
  };
}

/**
 * True when `w` already carries `intent`: with Plugins, podplug's stored
 * intent hash is the intent's, podplug still owns fields, and the template's
 * podplug init containers are the intent's (so a manager that took them away
 * is answered with a new apply); with none, podplug owns nothing.
 */
function upToDate(w: Readonly<Workload>, intent: Intent, withPlugins: boolean): boolean {
  if (!withPlugins) return !ownsFields(w) && injectedNames(w).length === 0;
  if (w.metadata.annotations?.[APPLIED_ANNOTATION] !== intent.hash) return false;
  if (!ownsFields(w)) return false;
  return initList(w.spec?.template?.spec?.initContainers) === intent.init;
}
