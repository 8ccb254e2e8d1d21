/**
 * Wires the operator together, as controller-runtime's Manager: the watches
 * (Plugins and the three workload kinds, per watched namespace or
 * cluster-wide), the mapping of each change to the objects it affects, and
 * two controllers — workloads and Plugins — whose workers start only once
 * every watch has completed its first list. Before that the queues fill but
 * nothing is reconciled, so no reconcile ever acts on a partial view (a
 * workload reconciled before the Plugin list arrived would lose its sidecars).
 */
import type { Logger } from "pino";
import { PLUGIN_GROUP, PLUGIN_VERSION, type Plugin, WORKLOAD_KINDS, type WorkloadKind } from "../src/inject/types.ts";
import type { Tracing } from "../src/tracing/tracer.ts";
import { ApplyErrors } from "./apply-errors.ts";
import { Cache, pluginIndexers } from "./cache.ts";
import type { KubeClient } from "./client.ts";
import { Controller } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import { objectRef, type PluginRef, type WorkloadRef } from "./keys.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { PluginReconciler } from "./plugin-reconciler.ts";
import {
  INJECTED_LABEL,
  type Pod,
  podCollection,
  podIndexers,
  sameCount,
  sameDigests,
  sameProblems,
  trimPod,
} from "./pod-status.ts";
import { Watcher } from "./watcher.ts";
import { WorkloadReconciler } from "./workload-reconciler.ts";
import {
  APPLIED_ANNOTATION,
  injectedNames,
  trimWorkload,
  type Workload,
  workloadCollection,
  workloadIndexers,
} from "./workloads.ts";

/** Settings of the manager. */
export interface ManagerOptions {
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** Image of the injected podplug-agent. */
  launcherImage: string;
  /** Workers of each controller. */
  concurrency: number;
  /** Test-only: delay of the first Plugin list (to prove nothing is reconciled before it). */
  pluginListDelayMs?: number;
  /** False in webhook mode: workload templates are never patched (the webhook injects Pods). Default true. */
  injectTemplates?: boolean;
  /** Inject only Plugins whose spec.image pins a digest (operator/image-digest.ts). */
  requireImageDigests?: boolean;
  /** Reconciles as spans; none when tracing is off. */
  tracing?: Tracing;
}

/**
 * A Plugin's status follows its workloads after this long, so that a burst of
 * workload changes (a rollout of 300 workloads) is one status write, not 300.
 */
const STATUS_COALESCE_MS = 250;

const sameLabels = (a: Record<string, string> = {}, b: Record<string, string> = {}): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

/** A Plugin without what the operator never reads (field ownership, kubectl's last-applied copy). */
function trimPlugin(p: Plugin): Plugin {
  const { managedFields: _m, annotations: _a, ...metadata } = p.metadata;
  return { ...p, metadata };
}

/** The operator's watches and controllers. */
export class Manager {
  readonly cache = new Cache();
  readonly workloads: Controller<WorkloadRef>;
  readonly plugins: Controller<PluginRef>;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private started = false;
  private stopped = false;
  private readonly injectTemplates: boolean;
  private readonly workloadReconciler: WorkloadReconciler;

  constructor(client: KubeClient, log: Logger, metrics: OperatorMetrics, opts: ManagerOptions) {
    this.log = log;
    this.injectTemplates = opts.injectTemplates ?? true;
    this.events = new EventRecorder(client, log);
    const errors = new ApplyErrors();
    this.workloadReconciler = new WorkloadReconciler({
      client,
      cache: this.cache,
      events: this.events,
      errors,
      log,
      launcherImage: opts.launcherImage,
      enqueuePlugin: (r) => this.plugins.enqueue(r, STATUS_COALESCE_MS),
      requireImageDigests: opts.requireImageDigests ?? false,
    });
    this.workloads = new Controller("workload", this.workloadReconciler, log, metrics, {
      concurrency: opts.concurrency,
      tracing: opts.tracing,
    });
    this.plugins = new Controller(
      "plugin",
      new PluginReconciler({
        client,
        cache: this.cache,
        events: this.events,
        errors,
        log,
        enqueueWorkload: (r) => this.enqueueWorkload(r),
        workloadPending: (r) => this.workloads.queue.pending(r),
        workloadsBusy: () => this.workloads.queue.length > 0,
        statusDelayMs: STATUS_COALESCE_MS,
        countPods: !this.injectTemplates,
        requireImageDigests: opts.requireImageDigests ?? false,
      }),
      log,
      metrics,
      { concurrency: opts.concurrency, tracing: opts.tracing },
    );
    const scopes: (string | undefined)[] = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    const pluginsPath = (ns?: string): string =>
      `/apis/${PLUGIN_GROUP}/${PLUGIN_VERSION}${ns ? `/namespaces/${ns}` : ""}/plugins`;
    for (const ns of scopes) {
      this.cache.plugins.push(
        new Watcher<Plugin>(client, pluginsPath(ns), log, (_k, n, p) => this.onPlugin(n, p), {
          transform: trimPlugin,
          indexers: pluginIndexers,
          firstListDelayMs: opts.pluginListDelayMs,
        }),
      );
      for (const kind of WORKLOAD_KINDS) {
        this.cache.workloads.get(kind)!.push(
          new Watcher<Workload>(client, workloadCollection(kind, ns), log, (_k, n, p) => this.onWorkload(kind, n, p), {
            transform: trimWorkload,
            indexers: workloadIndexers,
          }),
        );
      }
      this.cache.pods.push(
        new Watcher<Pod>(client, podCollection(ns), log, (_k, n, p) => this.onPod(n, p), {
          transform: trimPod,
          indexers: podIndexers,
          labelSelector: INJECTED_LABEL,
        }),
      );
    }
  }

  /** Every watcher, for tests and readiness. */
  get watchers(): Watcher<Plugin | Workload | Pod>[] {
    return this.cache.watchers;
  }

  /** Starts the watches; the controllers start once all of them have listed. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const w of this.watchers) w.start();
    void this.cache.synced().then(() => {
      if (this.stopped) return;
      this.log.info("caches synced: starting workers");
      this.workloads.start();
      this.plugins.start();
    });
  }

  /** Resolves once every watch has listed (and the workers started). */
  synced(): Promise<void> {
    return this.cache.synced();
  }

  /** Stops the watches and workers (running reconciles get `graceMs`) and posts pending Events. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.stop();
    await Promise.all([this.workloads.stop(graceMs), this.plugins.stop(graceMs)]);
    await this.events.close(Math.min(graceMs, 2000));
  }

  // --- change → the objects to reconcile -----------------------------------

  private onPlugin(next: Readonly<Plugin> | undefined, prev: Readonly<Plugin> | undefined): void {
    const p = (next ?? prev)!;
    const ns = p.metadata.namespace ?? "default";
    const name = p.metadata.name;
    this.plugins.enqueue(objectRef("Plugin", ns, name));
    // A status-only update changes neither generation nor deletion: no workload is affected.
    const specChanged =
      !next ||
      !prev ||
      next.metadata.generation !== prev.metadata.generation ||
      Boolean(next.metadata.deletionTimestamp) !== Boolean(prev.metadata.deletionTimestamp);
    if (!specChanged) return;
    for (const w of this.cache.affected(ns, name, next, prev)) this.enqueueWorkload(w);
  }

  // A pod's problems are a reason in the status of the Plugins it carries.
  // In webhook mode the pods themselves are the status: their arrival, end and readiness count too.
  private onPod(next: Readonly<Pod> | undefined, prev: Readonly<Pod> | undefined): void {
    if (this.injectTemplates ? sameProblems(next, prev) && sameDigests(next, prev) : sameCount(next, prev)) return;
    const p = (next ?? prev)!;
    for (const n of new Set([...(next?.plugins ?? []), ...(prev?.plugins ?? [])]))
      this.plugins.enqueue(objectRef("Plugin", p.metadata.namespace, n), STATUS_COALESCE_MS);
  }

  private onWorkload(
    kind: WorkloadKind,
    next: Readonly<Workload> | undefined,
    prev: Readonly<Workload> | undefined,
  ): void {
    const w = (next ?? prev)!;
    const ns = w.metadata.namespace;
    // The statuses of the Plugins it carries or that select it may change with any update.
    const names = new Set([...injectedNames(next), ...injectedNames(prev)]);
    for (const r of [...this.cache.pluginsSelecting(kind, next), ...this.cache.pluginsSelecting(kind, prev)])
      names.add(r.name);
    for (const n of names) this.plugins.enqueue(objectRef("Plugin", ns, n), STATUS_COALESCE_MS);
    if (!next) return;
    const relevant =
      !prev ||
      next.metadata.generation !== prev.metadata.generation ||
      !sameLabels(next.metadata.labels, prev.metadata.labels) ||
      next.metadata.annotations?.[APPLIED_ANNOTATION] !== prev.metadata.annotations?.[APPLIED_ANNOTATION];
    const ref = objectRef(kind, ns, w.metadata.name);
    // The event of podplug's own apply: reconciling it again would send nothing.
    if (relevant && !this.workloadReconciler.ownWrite(ref, next, prev)) this.enqueueWorkload(ref);
  }

  // In webhook mode no workload is ever queued, so none is patched and no Plugin waits on one.
  private enqueueWorkload(r: WorkloadRef): void {
    if (this.injectTemplates) this.workloads.enqueue(r);
  }
}
