/**
 * The watchdog of webhook mode: Pods a Plugin selects that run without its
 * sidecar. With `failurePolicy: Ignore` an unreachable webhook lets Pods
 * through uninjected (Dapr's known failure: the app starts without its
 * components and nothing says so); Pods created before their Plugin are the
 * same case. Every period the leader lists, per Plugin, the Pods its selector
 * matches (a label-selected list, never all Pods) and reports those without
 * the plugin as the Plugin's `SidecarsInjected` condition (its own field
 * manager, so the Plugin reconciler's conditions are untouched) and a Warning
 * Event `SidecarMissing` naming them, each only when the set changes. The
 * same counts, and whether an in-place upgrade halted, are gauges for the
 * shipped alerts (docs/observability.md).
 */
import type { V1LabelSelector, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { PLUGINS_ANNOTATION } from "../../src/inject/conventions.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin, type PluginCondition } from "../../src/inject/types.ts";
import { versionRefusal } from "../../src/inject/version-constraints.ts";
import type { KubeClient } from "../client.ts";
import type { EventRecorder } from "../events.ts";
import { rfc3339Seconds } from "../rfc3339.ts";
import { applyPluginStatus } from "../status-apply.ts";
import { optedOut, selectingPlugins } from "./pod-injection.ts";
import type { Reloader } from "./reload.ts";
import { planUpgrade, type Upgrader } from "./upgrade.ts";

/** The condition the watchdog owns on each Plugin. */
export const WATCHDOG_CONDITION = "SidecarsInjected";
const FIELD_MANAGER = "podplug-webhook-watchdog";

/** A metav1.LabelSelector as the `labelSelector` query parameter. */
export function selectorString(s: V1LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    const vals = `(${(e.values ?? []).join(",")})`;
    if (e.operator === "In") parts.push(`${e.key} in ${vals}`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin ${vals}`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.join(",");
}

/** The names of `pods` that `plugin` selects and that do not carry it (running or pending, not being deleted). */
export function podsWithoutSidecar(plugin: Readonly<Plugin>, pods: readonly V1Pod[]): string[] {
  const name = plugin.metadata.name;
  const ns = plugin.metadata.namespace ?? "default";
  const out: string[] = [];
  for (const pod of pods) {
    const m = pod.metadata;
    if (!m?.name || m.deletionTimestamp) continue;
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed" || optedOut(m)) continue;
    if (selectingPlugins([plugin], m.namespace ?? ns, m).length === 0) continue; // opted out, other kind
    if (versionRefusal(m, plugin) !== undefined) continue; // left out on purpose: the Pod refuses its version
    const carried = (m.annotations?.[PLUGINS_ANNOTATION] ?? "").split(",");
    if (!carried.includes(name)) out.push(m.name);
  }
  return out.sort();
}

/** What the watchdog needs. */
export interface WatchdogOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  plugins: () => Iterable<Readonly<Plugin>>;
  periodMs: number;
  /** In-place image upgrades over the same Pod lists; none: report only. */
  upgrader?: Upgrader;
  /** Cluster reloads (`podplug.io/reload`) over the same Pod lists while no upgrade is under way; none: ignored. */
  reloader?: Reloader;
  /** Where the gauges go (the operator's /metrics); none: no gauges. */
  registry?: Registry;
}

/** One Plugin's figures of the last pass. */
interface PluginFigures {
  namespace: string;
  plugin: string;
  missing: number;
  halted: boolean;
}

/** While an upgrade is under way the next look comes this soon, so pacing follows the sidecars' readiness. */
const UPGRADE_PERIOD_MS = 1000;

/** Runs the check every period until stopped. */
export class Watchdog {
  private readonly o: WatchdogOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** What was last reported per Plugin uid (or name): the missing pods, joined. */
  private readonly reported = new Map<string, string>();

  /** By Plugin key, from the last pass; the gauges read it when scraped. */
  private readonly figures = new Map<string, PluginFigures>();

  constructor(o: WatchdogOptions) {
    this.o = o;
    if (!o.registry) return;
    const gauge = (name: string, help: string, read: (f: PluginFigures) => number): void => {
      const figures = this.figures;
      new Gauge({
        name,
        help,
        labelNames: ["namespace", "plugin"],
        registers: [o.registry!],
        collect() {
          this.reset();
          for (const f of figures.values()) this.set({ namespace: f.namespace, plugin: f.plugin }, read(f));
        },
      });
    };
    gauge(
      "podplug_plugin_pods_without_sidecar",
      "Pods a Plugin selects that run without its sidecar, as the webhook watchdog last counted them",
      (f) => f.missing,
    );
    if (o.upgrader)
      gauge(
        "podplug_plugin_upgrade_halted",
        "1 while a Plugin's in-place sidecar upgrade is halted (condition SidecarsUpgraded reason UpgradeHalted)",
        (f) => (f.halted ? 1 : 0),
      );
  }

  start(): void {
    this.timer = setTimeout(() => this.tick(), Math.min(this.o.periodMs, 2000));
  }

  private upgrading = false;

  private tick(): void {
    this.timer = undefined;
    this.running = this.check()
      .catch((err: Error) => this.o.log.warn({ err: err.message }, "watchdog check failed"))
      .finally(() => {
        this.running = undefined;
        if (!this.stopped && !this.timer)
          this.timer = setTimeout(() => this.tick(), this.upgrading ? UPGRADE_PERIOD_MS : this.o.periodMs);
      });
  }

  /** Looks again soon (a Plugin changed); a look under way is followed by one more. */
  poke(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), 100);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every live Plugin. */
  async check(): Promise<void> {
    let upgrading = false;
    const seen = new Set<string>();
    for (const p of [...this.o.plugins()]) {
      if (this.stopped) return;
      if (p.metadata.deletionTimestamp) continue;
      const ns = p.metadata.namespace ?? "default";
      const sel = selectorString(p.spec.selector);
      if (!sel) continue;
      const list = await this.o.client.request<{ items?: V1Pod[] }>("GET", `/api/v1/namespaces/${ns}/pods`, {
        query: { labelSelector: sel, limit: 500 },
      });
      const pods = list.items ?? [];
      const missing = podsWithoutSidecar(p, pods);
      await this.report(p, missing);
      let halted = false;
      if (this.o.upgrader) {
        const selected = pods.filter((q) => selectingPlugins([p], ns, q.metadata).length > 0);
        const reason = (await this.o.upgrader.step(p, selected)).reason;
        halted = reason === "UpgradeHalted";
        if (planUpgrade(p, selected, 1).condition.reason === "Upgrading") upgrading = true;
        // A reload waits while Pods are being upgraded (a crash-looping sidecar reads as a halted upgrade too).
        if (this.o.reloader && reason !== "Upgrading" && (await this.o.reloader.step(p, selected)) === "Reloading")
          upgrading = true;
      }
      const key = `${ns}/${p.metadata.name}`;
      seen.add(key);
      this.figures.set(key, { namespace: ns, plugin: p.metadata.name, missing: missing.length, halted });
    }
    // A deleted Plugin's series go with it.
    for (const k of this.figures.keys()) if (!seen.has(k)) this.figures.delete(k);
    this.upgrading = upgrading;
  }

  private async report(p: Readonly<Plugin>, missing: string[]): Promise<void> {
    const key = p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
    const now = missing.join(",");
    const have = p.status?.conditions?.find((c) => c.type === WATCHDOG_CONDITION);
    const statusNow = missing.length > 0 ? "False" : "True";
    if (this.reported.get(key) === now && have?.status === statusNow) return;
    const name = p.metadata.name;
    const ns = p.metadata.namespace ?? "default";
    const shown = missing.slice(0, 10).join(", ") + (missing.length > 10 ? `, and ${missing.length - 10} more` : "");
    const message =
      missing.length > 0
        ? `${missing.length} pod(s) selected by this Plugin run without sidecar podplug-${name}: ${shown}. They were created while the injection webhook was unreachable (failurePolicy Ignore) or before the Plugin existed; delete them so their controller re-creates them with it`
        : "every pod this Plugin selects carries its sidecar";
    const condition: PluginCondition = {
      type: WATCHDOG_CONDITION,
      status: statusNow,
      observedGeneration: p.metadata.generation,
      lastTransitionTime: have?.status === statusNow ? have.lastTransitionTime : rfc3339Seconds(),
      reason: missing.length > 0 ? "PodsWithoutSidecar" : "AllPodsInjected",
      message,
    };
    if (have?.status !== statusNow || have.message !== message) {
      await applyPluginStatus(this.o.client, FIELD_MANAGER, { name, namespace: ns }, { conditions: [condition] });
    }
    if (missing.length > 0 && this.reported.get(key) !== now) {
      this.o.log.warn({ plugin: name, namespace: ns, pods: missing }, "pods without their sidecar");
      this.o.events.track(
        this.o.events.record(
          { apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, name, namespace: ns, uid: p.metadata.uid },
          "Warning",
          "SidecarMissing",
          message,
        ),
      );
    }
    this.reported.set(key, now);
  }
}
