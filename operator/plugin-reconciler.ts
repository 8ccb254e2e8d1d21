/**
 * The Plugin reconciler: podplug's finalizer, the AutoMTLS host certificate,
 * and the status (which workloads carry the plugin, how many are ready, the
 * Ready/Injected conditions), written only when it changed. On deletion it
 * waits until no workload carries the plugin, then releases the finalizer.
 * A selector that matches no workload posts a Warning Event when the Plugin
 * enters that state.
 */
import type { Logger } from "pino";
import { pluginContainerName } from "../src/inject/conventions.ts";
import { type Plugin, type PluginStatus, WORKLOAD_KINDS, type WorkloadKind } from "../src/inject/types.ts";
import type { ApplyErrors } from "./apply-errors.ts";
import type { Cache } from "./cache.ts";
import { FIELD_MANAGER, type KubeClient } from "./client.ts";
import { type Action, awaitChange, type Reconciler, requeueAfter } from "./controller.ts";
import type { EventRecorder } from "./events.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "./finalizer.ts";
import { digestRefusal, imageDigest } from "./image-digest.ts";
import { objectRef, type PluginRef, type WorkloadRef } from "./keys.ts";
import { ensureHostCertificate } from "./mtls.ts";
import { announceProblem, type Pod, workloadProblem } from "./pod-status.ts";
import { rfc3339Seconds } from "./rfc3339.ts";
import {
  computePodStatus,
  computeStatus,
  type PodGroupView,
  sameStatus,
  type WorkloadView,
  withDigests,
} from "./status.ts";
import { applyPluginStatus } from "./status-apply.ts";
import { answerUnsupportedReload, unsupportedReload } from "./template-reload.ts";
import { pluginTarget } from "./workload-reconciler.ts";
import { injectedNames, workloadReady } from "./workloads.ts";

/** What the Plugin reconciler needs. */
export interface PluginReconcilerDeps {
  client: KubeClient;
  cache: Cache;
  events: EventRecorder;
  errors: ApplyErrors;
  log: Logger;
  /** Queues a workload's reconcile. */
  enqueueWorkload(ref: WorkloadRef): void;
  /** True while a workload's reconcile waits or runs. */
  workloadPending(ref: WorkloadRef): boolean;
  /** True while workload reconciles wait in their queue (their applies go before Plugin writes). */
  workloadsBusy(): boolean;
  /** How long to wait for pending workloads before writing the status. */
  statusDelayMs: number;
  /** The longest a Plugin's writes wait for a busy workload queue (default 120 s). */
  maxDeferMs?: number;
  /**
   * Webhook mode: the status counts the live Pods that carry the sidecar
   * (grouped by what runs them), not workload templates, which the webhook
   * never touches.
   */
  countPods?: boolean;
  /** Inject only Plugins whose spec.image pins a digest (their status says why not). */
  requireImageDigests?: boolean;
}

/** Reconciles one Plugin. */
export class PluginReconciler implements Reconciler<PluginRef> {
  private readonly d: PluginReconcilerDeps;
  /** Since when each Plugin's writes have waited for a busy workload queue. */
  private readonly deferred = new Map<string, number>();

  constructor(deps: PluginReconcilerDeps) {
    this.d = deps;
  }

  /**
   * True while other workloads wait in the queue: their applies go before
   * this Plugin's writes (at converge the finalizers, statuses and Events of
   * 200 Plugins would otherwise slow the patches of 1,000 workloads on a
   * shared apiserver), but a Plugin waits at most maxDeferMs.
   */
  private queueFirst(key: string): boolean {
    if (!this.d.workloadsBusy()) {
      this.deferred.delete(key);
      return false;
    }
    const since = this.deferred.get(key) ?? Date.now();
    this.deferred.set(key, since);
    if (Date.now() - since < (this.d.maxDeferMs ?? 120_000)) return true;
    this.deferred.delete(key);
    return false;
  }

  async reconcile(ref: PluginRef): Promise<Action> {
    const { namespace: ns, name } = ref;
    const p = this.d.cache.plugin(ref);
    if (!p) {
      this.d.errors.drop(ref);
      this.deferred.delete(`${ns}/${name}`);
      return awaitChange;
    }
    const log = this.d.log.child({ plugin: name, namespace: ns });
    const deleting = Boolean(p.metadata.deletionTimestamp);
    // The certificate first: pods of the workloads being patched mount its Secret.
    if (!deleting && p.spec.autoMTLS && (await ensureHostCertificate(this.d.client, p))) {
      log.info("created the AutoMTLS host certificate Secret");
      this.d.events.track(
        this.d.events.record(
          pluginTarget(p),
          "Normal",
          "CertificateCreated",
          `AutoMTLS host certificate stored in Secret podplug-${name}-mtls`,
        ),
      );
    }
    // A busy queue takes a while: look again less often than for the Plugin's own workloads.
    if (!deleting && this.queueFirst(`${ns}/${name}`)) return requeueAfter(4 * this.d.statusDelayMs);

    const carrying: WorkloadRef[] = [];
    const views: WorkloadView[] = [];
    const seen = new Set<string>();
    for (const kind of this.d.countPods ? [] : WORKLOAD_KINDS) {
      for (const w of this.d.cache.carrying(ns, name, kind)) {
        seen.add(`${kind}/${w.metadata.name}`);
        carrying.push(objectRef(kind, ns, w.metadata.name));
        const ready = workloadReady(kind, w);
        const problem = ready
          ? undefined
          : workloadProblem(
              name,
              kind,
              w.metadata.name,
              this.d.cache.podsOf(ns, kind, w.metadata.name),
              p.spec.standby === true,
            );
        views.push({ kind, name: w.metadata.name, injected: true, ready, problem });
      }
      for (const w of this.d.cache.selectedBy(p, kind)) {
        if (seen.has(`${kind}/${w.metadata.name}`)) continue;
        views.push({ kind, name: w.metadata.name, injected: injectedNames(w).includes(name), ready: false });
      }
    }

    if (deleting) {
      if (!hasFinalizer(p)) {
        this.d.events.flushTarget(pluginTarget(p));
        return awaitChange;
      }
      if (carrying.length > 0) {
        for (const w of carrying) this.d.enqueueWorkload(w);
        log.info({ remaining: carrying.length }, "deleting: waiting for workloads to drop the sidecar");
        return requeueAfter(1000);
      }
      this.d.events.flushTarget(pluginTarget(p));
      await removeFinalizer(this.d.client, p);
      log.info("deleted: every sidecar removed, finalizer released");
      return awaitChange;
    }

    // While its workloads are still being reconciled the status would only be a step on the way:
    // write it (and the finalizer, and the Events noted meanwhile) once they are done — one write
    // after a burst, not one per workload, and the workloads' patches go first. (Without the
    // finalizer a deleted Plugin's sidecars are still removed: its deletion queues every workload
    // that carries it.)
    if (views.some((v) => this.d.workloadPending(objectRef(v.kind, ns, v.name))))
      return requeueAfter(this.d.statusDelayMs);
    this.d.events.flushTarget(pluginTarget(p));

    if (!hasFinalizer(p)) await addFinalizer(this.d.client, p);

    // Errors of workloads that no longer select the Plugin (or are gone) no longer count.
    const errors = this.d.errors.messages(
      ref,
      views.map((v) => objectRef(v.kind, ns, v.name)),
    );
    const at = rfc3339Seconds();
    const groups = this.d.countPods ? this.podGroups(p) : [];
    const base = this.d.countPods
      ? computePodStatus(p as Plugin, groups, at)
      : computeStatus(p as Plugin, views, at, errors.length > 0 ? errors.join("; ") : undefined);
    const pinned = imageDigest(p.spec.image);
    const status = withDigests(
      p as Plugin,
      base,
      this.running(p, base),
      at,
      pinned.pinned ? pinned.digest : undefined,
      digestRefusal(p, this.d.requireImageDigests ?? false),
    );
    if (!this.d.countPods) {
      const reload = unsupportedReload(p as Plugin, at);
      if (reload) await answerUnsupportedReload(this.d.client, this.d.events, p as Plugin, reload);
    }
    if (sameStatus(p.status, status)) return awaitChange;
    await applyPluginStatus(this.d.client, FIELD_MANAGER, { name, namespace: ns }, status);
    log.debug({ workloads: status.workloadCount, ready: status.readyWorkloadCount }, "status updated");
    announceProblem(this.d.events, pluginTarget(p), p.status, status, this.d.countPods ? groups : views);
    const was = p.status?.conditions?.find((c) => c.type === "Injected")?.reason;
    const now = status.conditions?.find((c) => c.type === "Injected");
    if (now?.reason.startsWith("ImageDigest") && was !== now.reason)
      this.d.events.track(this.d.events.record(pluginTarget(p), "Warning", now.reason, now.message));
    const digest = status.conditions?.find((c) => c.type === "ImageDigest");
    const wasDigest = p.status?.conditions?.find((c) => c.type === "ImageDigest");
    if (digest?.status === "False" && (wasDigest?.reason !== digest.reason || wasDigest.message !== digest.message))
      this.d.events.track(this.d.events.record(pluginTarget(p), "Warning", digest.reason, digest.message));
    if (now?.reason === "NoWorkloads" && was !== "NoWorkloads") {
      this.d.events.track(
        this.d.events.record(
          pluginTarget(p),
          "Warning",
          "NoWorkloads",
          `spec.selector matches no ${(p.spec.workloadKinds ?? WORKLOAD_KINDS).join(", ")} in namespace ${ns}: check the selector and the workloads' labels`,
        ),
      );
    }
    return awaitChange;
  }

  /** `Kind/name` of each workload in `status` → the image digests its live pods' container of `p` reports. */
  private running(p: Readonly<Plugin>, status: PluginStatus): Map<string, string[]> {
    const ns = p.metadata.namespace ?? "default";
    const container = pluginContainerName(p.metadata.name);
    const out = new Map<string, string[]>();
    const pods: Iterable<Readonly<Pod>> = this.d.countPods
      ? this.d.cache.podsCarrying(ns, p.metadata.name)
      : (status.workloads ?? []).flatMap((w) => [...this.d.cache.podsOf(ns, w.kind as WorkloadKind, w.name)]);
    for (const pod of pods) {
      const d = pod.digests?.[container];
      if (!d || !pod.live || !pod.workload) continue;
      const list = out.get(pod.workload) ?? [];
      if (!list.includes(d)) list.push(d);
      out.set(pod.workload, list);
    }
    return out;
  }

  /** Webhook mode: the live Pods that carry `p`'s sidecar, by what runs them. */
  private podGroups(p: Readonly<Plugin>): PodGroupView[] {
    const ns = p.metadata.namespace ?? "default";
    const name = p.metadata.name;
    const byOwner = new Map<string, Readonly<Pod>[]>();
    for (const pod of this.d.cache.podsCarrying(ns, name)) {
      if (!pod.live) continue;
      const key = pod.workload ?? `Pod/${pod.metadata.name}`;
      let list = byOwner.get(key);
      if (!list) byOwner.set(key, (list = []));
      list.push(pod);
    }
    const out: PodGroupView[] = [];
    for (const [key, pods] of byOwner) {
      const slash = key.indexOf("/");
      const kind = key.slice(0, slash);
      const owner = key.slice(slash + 1);
      const readyPods = pods.filter((x) => x.ready).length;
      out.push({
        kind,
        name: owner,
        pods: pods.length,
        readyPods,
        problem:
          readyPods < pods.length ? workloadProblem(name, kind, owner, pods, p.spec.standby === true) : undefined,
      });
    }
    return out;
  }
}
