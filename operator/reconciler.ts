/**
 * The controller: watches Plugins and host workloads, and reconciles two kinds
 * of keys from one rate-limited queue:
 *  - `W|<Kind>|<ns>/<name>`: apply podplug's fields to that workload's pod
 *    template by server-side apply (field manager `podplug`): the result of
 *    the injection over a skeleton holding only the host container names.
 *    No matching Plugin means an empty apply, which releases (and so removes)
 *    exactly the fields podplug owned. Fields of other managers are never sent.
 *  - `P|<ns>/<name>`: the Plugin's finalizer and status.
 */

import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { PLUGINS_ANNOTATION, pluginContainerName } from "../src/inject/conventions.ts";
import { InjectError } from "../src/inject/errors.ts";
import { inject } from "../src/inject/inject.ts";
import { selectorMatches } from "../src/inject/selector.ts";
import {
  PLUGIN_API_VERSION,
  PLUGIN_KIND,
  type Plugin,
  WORKLOAD_KINDS,
  type WorkloadKind,
} from "../src/inject/types.ts";
import { APPLY_PATCH, type KubeClient } from "./client.ts";
import { isRetriable, KubeApiError } from "./errors.ts";
import { EventRecorder } from "./events.ts";
import { addFinalizer, FIELD_MANAGER, hasFinalizer, pluginPath, removeFinalizer } from "./finalizer.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { ensureHostCertificate } from "./mtls.ts";
import { WorkQueue } from "./queue.ts";
import { computeStatus, sameStatus, type WorkloadView } from "./status.ts";
import { Watcher } from "./watcher.ts";
import { type Workload, workloadCollection, workloadPath, workloadReady } from "./workloads.ts";

/** Settings of the controller. */
export interface ControllerOptions {
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** Image of the injected podplug-agent. */
  agentImage: string;
  /** Parallel reconciles (never two for one key). */
  concurrency: number;
}

const CONTROLLER = "plugin";

/** The names in a workload's injected-plugins annotation. */
export function injectedNames(w: Workload | undefined): string[] {
  const a = w?.spec?.template?.metadata?.annotations?.[PLUGINS_ANNOTATION];
  return a ? a.split(",").filter(Boolean) : [];
}

const workloadKey = (kind: WorkloadKind, ns: string, name: string): string => `W|${kind}|${ns}/${name}`;
const pluginKey = (ns: string, name: string): string => `P|${ns}/${name}`;

function splitKey(nsName: string): [string, string] {
  const i = nsName.indexOf("/");
  return [nsName.slice(0, i), nsName.slice(i + 1)];
}

/** The Plugin controller. */
export class Controller {
  readonly queue: WorkQueue;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly opts: ControllerOptions;
  private readonly events: EventRecorder;
  private readonly plugins: Watcher<Plugin>[] = [];
  private readonly workloads = new Map<WorkloadKind, Watcher<Workload>[]>();
  /** Apply errors per Plugin key, then per workload key: shown in the Plugin's status. */
  private readonly applyErrors = new Map<string, Map<string, string>>();
  private workers: Promise<void>[] = [];
  private running = false;

  constructor(client: KubeClient, log: Logger, metrics: OperatorMetrics, opts: ControllerOptions) {
    this.client = client;
    this.log = log;
    this.metrics = metrics;
    this.opts = opts;
    this.events = new EventRecorder(client, log);
    this.queue = new WorkQueue(metrics.queueHooks(CONTROLLER));
    metrics.watchQueue(CONTROLLER, this.queue);
    const scopes: (string | undefined)[] = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    for (const ns of scopes) {
      const path = ns ? `/apis/podplug.io/v1alpha1/namespaces/${ns}/plugins` : "/apis/podplug.io/v1alpha1/plugins";
      this.plugins.push(new Watcher<Plugin>(client, path, log, (k, n, p) => this.onPlugin(k, n, p)));
      for (const kind of WORKLOAD_KINDS) {
        const list = this.workloads.get(kind) ?? [];
        list.push(
          new Watcher<Workload>(client, workloadCollection(kind, ns), log, (k, n, p) => this.onWorkload(kind, k, n, p)),
        );
        this.workloads.set(kind, list);
      }
    }
  }

  /** Every watcher, for tests and readiness. */
  get watchers(): Watcher<Plugin | Workload>[] {
    return [...this.plugins, ...[...this.workloads.values()].flat()] as Watcher<Plugin | Workload>[];
  }

  /** Starts watchers and workers. */
  start(): void {
    this.running = true;
    for (const w of this.watchers) w.start();
    this.metrics.maxConcurrent.set({ controller: CONTROLLER }, this.opts.concurrency);
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.worker());
  }

  /** Resolves once every watcher has listed once. */
  async synced(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.synced));
  }

  /** Stops watching, lets in-flight reconciles finish (up to `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    this.running = false;
    for (const w of this.watchers) w.stop();
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, graceMs))]);
  }

  // --- event handlers: map changes to keys ---------------------------------

  private plugin(ns: string, name: string): Plugin | undefined {
    for (const w of this.plugins) {
      const p = w.get(`${ns}/${name}`);
      if (p) return p;
    }
    return undefined;
  }

  private pluginsIn(ns: string): Plugin[] {
    return this.plugins.flatMap((w) => w.list(ns));
  }

  private workload(kind: WorkloadKind, ns: string, name: string): Workload | undefined {
    for (const w of this.workloads.get(kind) ?? []) {
      const o = w.get(`${ns}/${name}`);
      if (o) return o;
    }
    return undefined;
  }

  private workloadsIn(kind: WorkloadKind, ns: string): Workload[] {
    return (this.workloads.get(kind) ?? []).flatMap((w) => w.list(ns));
  }

  private onPlugin(key: string, next: Plugin | undefined, prev: Plugin | undefined): void {
    const [ns, name] = splitKey(key);
    this.queue.add(pluginKey(ns, name));
    // A status-only update changes neither generation nor deletion: no workload is affected.
    const specChanged =
      !next ||
      !prev ||
      next.metadata.generation !== prev.metadata.generation ||
      Boolean(next.metadata.deletionTimestamp) !== Boolean(prev.metadata.deletionTimestamp);
    if (!specChanged) return;
    for (const kind of WORKLOAD_KINDS) {
      for (const w of this.workloadsIn(kind, ns)) {
        const labels = w.metadata.labels;
        if (
          injectedNames(w).includes(name) ||
          selectorMatches(next?.spec.selector, labels) ||
          selectorMatches(prev?.spec.selector, labels)
        ) {
          this.queue.add(workloadKey(kind, ns, w.metadata.name));
        }
      }
    }
  }

  private onWorkload(kind: WorkloadKind, key: string, next: Workload | undefined, prev: Workload | undefined): void {
    const [ns, name] = splitKey(key);
    // Statuses of the Plugins it carries (readiness) may change with any update.
    for (const n of new Set([...injectedNames(next), ...injectedNames(prev)])) this.queue.add(pluginKey(ns, n));
    const relevant =
      !next ||
      !prev ||
      next.metadata.generation !== prev.metadata.generation ||
      JSON.stringify(next.metadata.labels ?? {}) !== JSON.stringify(prev.metadata.labels ?? {});
    if (relevant) this.queue.add(workloadKey(kind, ns, name));
  }

  // --- workers --------------------------------------------------------------

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      this.metrics.activeWorkers.inc({ controller: CONTROLLER });
      let result: "success" | "error" | "requeue_after" = "success";
      try {
        const after = await this.reconcile(key);
        if (after !== undefined) {
          result = "requeue_after";
          this.queue.forget(key);
          this.queue.addAfter(key, after);
        } else {
          this.queue.forget(key);
        }
      } catch (err) {
        result = "error";
        this.metrics.reconcileErrors.inc({ controller: CONTROLLER });
        const retriable = isRetriable(err);
        this.log.warn(
          { key, err: (err as Error).message, code: (err as { code?: string }).code, retriable },
          "reconcile failed: retrying with backoff",
        );
        if (this.running) this.queue.addRateLimited(key);
      } finally {
        this.metrics.activeWorkers.dec({ controller: CONTROLLER });
        this.metrics.reconcileTotal.inc({ controller: CONTROLLER, result });
        this.metrics.reconcileTime.observe({ controller: CONTROLLER }, (performance.now() - started) / 1000);
        this.queue.done(key);
      }
    }
  }

  /** Reconciles one key; returns a delay to look again, or undefined. */
  private async reconcile(key: string): Promise<number | undefined> {
    if (key.startsWith("W|")) {
      const [, kind, nsName] = key.split("|") as [string, WorkloadKind, string];
      const [ns, name] = splitKey(nsName);
      await this.reconcileWorkload(kind, ns, name);
      return undefined;
    }
    const [ns, name] = splitKey(key.slice(2));
    return this.reconcilePlugin(ns, name);
  }

  /** The live Plugins that select workload `w` of `kind`. */
  private selecting(kind: WorkloadKind, w: Workload): Plugin[] {
    return this.pluginsIn(w.metadata.namespace)
      .filter((p) => !p.metadata.deletionTimestamp)
      .filter((p) => (p.spec.workloadKinds ?? WORKLOAD_KINDS).includes(kind))
      .filter((p) => selectorMatches(p.spec.selector, w.metadata.labels));
  }

  private async reconcileWorkload(kind: WorkloadKind, ns: string, name: string): Promise<void> {
    const w = this.workload(kind, ns, name);
    if (!w) return;
    // A Plugin whose sidecar name a host container already uses cannot join this
    // workload; it is reported and the others still are injected.
    const hostNames = new Set((w.spec?.template?.spec?.containers ?? []).map((c) => c.name));
    const plugins: Plugin[] = [];
    for (const p of this.selecting(kind, w)) {
      if (hostNames.has(pluginContainerName(p.metadata.name))) {
        this.recordApplyError(
          p,
          workloadKey(kind, ns, name),
          `${kind} ${name}: the host container ${pluginContainerName(p.metadata.name)} uses the name of this plugin's sidecar (the podplug- prefix is podplug's): rename the container`,
        );
      } else {
        plugins.push(p);
      }
    }
    const before = injectedNames(w);
    const ownsFields = (w.metadata.managedFields ?? []).some((m) => m.manager === FIELD_MANAGER);
    if (plugins.length === 0 && before.length === 0 && !ownsFields) return;
    const log = this.log.child({ workload: `${kind}/${ns}/${name}` });

    const body: Record<string, unknown> = { apiVersion: "apps/v1", kind, metadata: { name, namespace: ns } };
    if (plugins.length > 0) {
      // Only the host container names: podplug sends nothing it does not own.
      const skeleton: V1PodTemplateSpec = {
        spec: { containers: (w.spec?.template?.spec?.containers ?? []).map((c) => ({ name: c.name })) },
      };
      let template: V1PodTemplateSpec;
      try {
        template = inject(skeleton, plugins, { agentImage: this.opts.agentImage, autoMTLS: true });
      } catch (err) {
        if (!(err instanceof InjectError)) throw err;
        for (const p of plugins)
          this.recordApplyError(p, workloadKey(kind, ns, name), `${kind} ${name}: ${err.message}`);
        throw err;
      }
      body.spec = { template };
    }
    try {
      await this.client.request("PATCH", workloadPath(kind, ns, name), {
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: APPLY_PATCH,
        body,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      if (err instanceof KubeApiError && (err.status === 422 || err.status === 400)) {
        for (const p of plugins)
          this.recordApplyError(p, workloadKey(kind, ns, name), `${kind} ${name}: ${err.message}`);
      }
      throw err;
    }
    const after = plugins.map((p) => p.metadata.name).sort();
    for (const p of plugins) {
      this.clearApplyError(pluginKey(ns, p.metadata.name), workloadKey(kind, ns, name));
      if (!before.includes(p.metadata.name)) {
        log.info({ plugin: p.metadata.name }, "injected");
        void this.events.record(
          pluginTarget(p),
          "Normal",
          "Injected",
          `sidecar podplug-${p.metadata.name} added to ${kind} ${name}`,
        );
      }
    }
    for (const n of before) {
      if (!after.includes(n)) {
        log.info({ plugin: n }, "removed");
        const p = this.plugin(ns, n);
        if (p)
          void this.events.record(
            pluginTarget(p),
            "Normal",
            "Removed",
            `sidecar podplug-${n} removed from ${kind} ${name}`,
          );
      }
    }
    for (const n of new Set([...before, ...after])) this.queue.add(pluginKey(ns, n));
  }

  private clearApplyError(pk: string, wk: string): void {
    const m = this.applyErrors.get(pk);
    if (m?.delete(wk)) this.queue.add(pk);
    if (m?.size === 0) this.applyErrors.delete(pk);
  }

  // The Plugin's status shows the error: its key is queued to write it.
  private recordApplyError(p: Plugin, wk: string, message: string): void {
    const pk = pluginKey(p.metadata.namespace ?? "default", p.metadata.name);
    const m = this.applyErrors.get(pk) ?? new Map<string, string>();
    const changed = m.get(wk) !== message;
    m.set(wk, message);
    this.applyErrors.set(pk, m);
    if (changed) this.queue.add(pk);
    void this.events.record(pluginTarget(p), "Warning", "InjectFailed", message);
  }

  private async reconcilePlugin(ns: string, name: string): Promise<number | undefined> {
    const p = this.plugin(ns, name);
    if (!p) {
      this.applyErrors.delete(pluginKey(ns, name));
      return undefined;
    }
    const log = this.log.child({ plugin: name, namespace: ns });
    const carrying: { kind: WorkloadKind; w: Workload }[] = [];
    const views: WorkloadView[] = [];
    for (const kind of WORKLOAD_KINDS) {
      for (const w of this.workloadsIn(kind, ns)) {
        const injected = injectedNames(w).includes(name);
        if (injected) carrying.push({ kind, w });
        const selected =
          !p.metadata.deletionTimestamp &&
          (p.spec.workloadKinds ?? WORKLOAD_KINDS).includes(kind) &&
          selectorMatches(p.spec.selector, w.metadata.labels);
        if (injected || selected)
          views.push({ kind, name: w.metadata.name, injected, ready: injected && workloadReady(kind, w) });
      }
    }

    if (p.metadata.deletionTimestamp) {
      if (!hasFinalizer(p)) return undefined;
      if (carrying.length > 0) {
        for (const { kind, w } of carrying) this.queue.add(workloadKey(kind, ns, w.metadata.name));
        log.info({ remaining: carrying.length }, "deleting: waiting for workloads to drop the sidecar");
        return 1000;
      }
      await removeFinalizer(this.client, p);
      log.info("deleted: every sidecar removed, finalizer released");
      return undefined;
    }

    if (!hasFinalizer(p)) await addFinalizer(this.client, p);
    if (p.spec.autoMTLS && (await ensureHostCertificate(this.client, p))) {
      log.info("created the AutoMTLS host certificate Secret");
      void this.events.record(
        pluginTarget(p),
        "Normal",
        "CertificateCreated",
        `AutoMTLS host certificate stored in Secret podplug-${name}-mtls`,
      );
    }

    // Errors of workloads that no longer select the Plugin (or are gone) no longer count.
    const errs = this.applyErrors.get(pluginKey(ns, name));
    if (errs) {
      const live = new Set(views.map((v) => workloadKey(v.kind, ns, v.name)));
      for (const wk of [...errs.keys()]) if (!live.has(wk)) errs.delete(wk);
    }
    const errors = [...(errs?.values() ?? [])].sort();
    const status = computeStatus(
      p,
      views,
      new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      errors.length > 0 ? errors.join("; ") : undefined,
    );
    if (!sameStatus(p.status, status)) {
      await this.client.request("PATCH", `${pluginPath(ns, name)}/status`, {
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: APPLY_PATCH,
        body: { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, metadata: { name, namespace: ns }, status },
      });
      log.debug({ workloads: status.workloadCount, ready: status.readyWorkloadCount }, "status updated");
    }
    return undefined;
  }
}

function pluginTarget(p: Plugin): { apiVersion: string; kind: string; name: string; namespace: string; uid?: string } {
  return {
    apiVersion: PLUGIN_API_VERSION,
    kind: PLUGIN_KIND,
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? "default",
    uid: p.metadata.uid,
  };
}
