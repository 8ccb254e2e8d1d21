/**
 * The operator's read side: the watchers' stores of Plugins and of each
 * workload kind (one watcher per watched namespace, or one cluster-wide),
 * looked up through their indexes, never copied. Whether a Plugin selects a
 * workload is {@link pluginSelects}; this only narrows the candidates.
 */
import { pluginSelects } from "../src/inject/selector.ts";
import { type Plugin, WORKLOAD_KINDS, type WorkloadKind } from "../src/inject/types.ts";
import { objectRef, type PluginRef, type WorkloadRef } from "./keys.ts";
import type { Pod } from "./pod-status.ts";
import type { IndexFunc } from "./store.ts";
import type { Watcher } from "./watcher.ts";
import type { Workload } from "./workloads.ts";

/** The selector-index key of Plugins whose selector has no matchLabels (only expressions). */
const ANY_SELECTOR = "*";

/** Store index of Plugins: by the first pair of their matchLabels (`k=v`), else {@link ANY_SELECTOR}. */
export const pluginIndexers: Record<string, IndexFunc<Plugin>> = {
  selector: (p) => {
    const first = Object.entries(p.spec.selector?.matchLabels ?? {})[0];
    return [first ? `${first[0]}=${first[1]}` : ANY_SELECTOR];
  },
};

/** Read-only lookups over the synced stores. */
export class Cache {
  readonly plugins: Watcher<Plugin>[] = [];
  readonly workloads = new Map<WorkloadKind, Watcher<Workload>[]>(WORKLOAD_KINDS.map((k) => [k, []]));
  /** Injected pods only, for why a workload is not ready (pod-status.ts). */
  readonly pods: Watcher<Pod>[] = [];

  /** Every watcher. */
  get watchers(): Watcher<Plugin | Workload | Pod>[] {
    return [...this.plugins, ...[...this.workloads.values()].flat(), ...this.pods] as Watcher<
      Plugin | Workload | Pod
    >[];
  }

  /** The injected pods of workload `kind/name` in `namespace`. */
  *podsOf(namespace: string, kind: WorkloadKind, name: string): Generator<Readonly<Pod>> {
    for (const w of this.pods) yield* w.store.byIndex("workload", namespace, `${kind}/${name}`);
  }

  /** The injected pods of `namespace` that carry plugin `name` (by their podplug.io/plugins annotation). */
  *podsCarrying(namespace: string, name: string): Generator<Readonly<Pod>> {
    for (const w of this.pods) yield* w.store.byIndex("plugin", namespace, name);
  }

  /** Resolves once every watcher has listed once. */
  async synced(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.synced));
  }

  /** The Plugin `ref` names. */
  plugin(ref: PluginRef): Readonly<Plugin> | undefined {
    const key = `${ref.namespace}/${ref.name}`;
    for (const w of this.plugins) {
      const p = w.get(key);
      if (p) return p;
    }
    return undefined;
  }

  /** The workload `ref` names. */
  workload(ref: WorkloadRef): Readonly<Workload> | undefined {
    const key = `${ref.namespace}/${ref.name}`;
    for (const w of this.workloads.get(ref.kind) ?? []) {
      const o = w.get(key);
      if (o) return o;
    }
    return undefined;
  }

  /** The Plugins that go into workload `w` of `kind`, sorted by name. */
  pluginsFor(kind: WorkloadKind, w: Readonly<Workload>): Readonly<Plugin>[] {
    const out: Readonly<Plugin>[] = [];
    const ns = w.metadata.namespace;
    const labels = w.metadata.labels ?? {};
    // Candidates from the selector index: Plugins whose first matchLabels pair the workload has, and
    // those without matchLabels (each Plugin is under one key, so none is seen twice).
    const keys = [ANY_SELECTOR, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    for (const watcher of this.plugins)
      for (const key of keys)
        for (const p of watcher.store.byIndex("selector", ns, key)) if (pluginSelects(p, kind, labels)) out.push(p);
    return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** The workloads of `kind` that `p` selects (none for a Plugin being deleted). */
  *selectedBy(p: Readonly<Plugin> | undefined, kind: WorkloadKind): Generator<Readonly<Workload>> {
    if (!p) return;
    const ns = p.metadata.namespace ?? "default";
    // One matchLabels pair narrows the candidates to the label index.
    const first = Object.entries(p.spec.selector?.matchLabels ?? {})[0];
    for (const watcher of this.workloads.get(kind) ?? []) {
      const candidates = first ? watcher.store.byIndex("label", ns, `${first[0]}=${first[1]}`) : watcher.store.list(ns);
      for (const w of candidates) if (pluginSelects(p, kind, w.metadata.labels)) yield w;
    }
  }

  /** The workloads of `kind` in `namespace` whose template carries plugin `name`. */
  *carrying(namespace: string, name: string, kind: WorkloadKind): Generator<Readonly<Workload>> {
    for (const watcher of this.workloads.get(kind) ?? []) yield* watcher.store.byIndex("plugin", namespace, name);
  }

  /** Every workload that carries or is selected by `p` (or `prev`), once each. */
  affected(namespace: string, name: string, ...plugins: (Readonly<Plugin> | undefined)[]): WorkloadRef[] {
    const out = new Map<string, WorkloadRef>();
    for (const kind of WORKLOAD_KINDS) {
      const add = (w: Readonly<Workload>): void => {
        out.set(`${kind}/${w.metadata.name}`, objectRef(kind, namespace, w.metadata.name));
      };
      for (const w of this.carrying(namespace, name, kind)) add(w);
      for (const p of plugins) for (const w of this.selectedBy(p, kind)) add(w);
    }
    return [...out.values()];
  }

  /** The Plugins in `namespace` that select `w` of `kind`, for status updates. */
  pluginsSelecting(kind: WorkloadKind, w: Readonly<Workload> | undefined): PluginRef[] {
    if (!w) return [];
    return this.pluginsFor(kind, w).map((p) => objectRef("Plugin", w.metadata.namespace, p.metadata.name));
  }
}
