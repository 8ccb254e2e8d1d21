/**
 * Why a Plugin could not join a workload, per Plugin and workload: written by
 * the workload reconciler, shown by the Plugin reconciler in the Plugin's
 * status (Injected=False, InjectFailed). An entry goes when the workload is
 * fixed, stops selecting the Plugin, or goes away.
 */
import { type PluginRef, refId, type WorkloadRef } from "./keys.ts";

/** The apply errors of every Plugin. */
export class ApplyErrors {
  private readonly byPlugin = new Map<string, Map<string, string>>();

  /** Records `message` for `plugin` in `workload`; true when it is new or changed. */
  set(plugin: PluginRef, workload: WorkloadRef, message: string): boolean {
    const pk = refId(plugin);
    const m = this.byPlugin.get(pk) ?? new Map<string, string>();
    const changed = m.get(refId(workload)) !== message;
    m.set(refId(workload), message);
    this.byPlugin.set(pk, m);
    return changed;
  }

  /** Clears the error of `plugin` in `workload`; true when there was one. */
  clear(plugin: PluginRef, workload: WorkloadRef): boolean {
    const pk = refId(plugin);
    const m = this.byPlugin.get(pk);
    const had = m?.delete(refId(workload)) ?? false;
    if (m?.size === 0) this.byPlugin.delete(pk);
    return had;
  }

  /** The messages of `plugin`, sorted, after dropping workloads not in `live`. */
  messages(plugin: PluginRef, live: readonly WorkloadRef[]): string[] {
    const m = this.byPlugin.get(refId(plugin));
    if (!m) return [];
    const keep = new Set(live.map(refId));
    for (const k of [...m.keys()]) if (!keep.has(k)) m.delete(k);
    return [...m.values()].sort();
  }

  /** Forgets `plugin` (it is gone). */
  drop(plugin: PluginRef): void {
    this.byPlugin.delete(refId(plugin));
  }
}
