/**
 * The in-memory store a watcher fills, as kube-rs's reflector `Store` and
 * client-go's `Indexer`: objects by `namespace/name`, indexed by namespace and
 * by named index functions (labels, injected plugins). Objects are frozen on
 * the way in and handed out as they are: readers get read-only views, not
 * copies, so a lookup costs nothing however often reconciles read.
 */

/** The parts of an object the store needs. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Values an object is indexed under (within its namespace). */
export type IndexFunc<T> = (o: T) => readonly string[];

/** `namespace/name` (or `name` for cluster-scoped objects). */
export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Objects of one resource, with indexes; read-only to everyone but its watcher. */
export class Store<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();
  // index name -> `${namespace}\0${value}` -> key -> object
  private readonly indexes = new Map<string, Map<string, Map<string, T>>>();
  private readonly indexers: Record<string, IndexFunc<T>>;

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    this.indexers = indexers;
    for (const name of Object.keys(indexers)) this.indexes.set(name, new Map());
  }

  /** Number of objects. */
  get size(): number {
    return this.objects.size;
  }

  /** The object under `key` (`namespace/name`). */
  get(key: string): Readonly<T> | undefined {
    return this.objects.get(key);
  }

  /** Every object, or those of `namespace`. */
  list(namespace?: string): Iterable<Readonly<T>> {
    if (namespace === undefined) return this.objects.values();
    return this.byNamespace.get(namespace)?.values() ?? [];
  }

  /** Objects of `namespace` that index function `index` maps to `value`. */
  byIndex(index: string, namespace: string, value: string): Iterable<Readonly<T>> {
    const idx = this.indexes.get(index);
    if (!idx) throw new Error(`store has no index ${index}`);
    return idx.get(`${namespace}\0${value}`)?.values() ?? [];
  }

  /** Stores `o` (frozen) under `key`, replacing what was there. */
  set(key: string, o: T): void {
    this.delete(key);
    deepFreeze(o);
    this.objects.set(key, o);
    const ns = o.metadata?.namespace ?? "";
    let m = this.byNamespace.get(ns);
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(key, o);
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name)!;
      for (const v of fn(o)) {
        const slot = `${ns}\0${v}`;
        let s = idx.get(slot);
        if (!s) idx.set(slot, (s = new Map()));
        s.set(key, o);
      }
    }
  }

  /** Removes `key`; returns what was there. */
  delete(key: string): T | undefined {
    const o = this.objects.get(key);
    if (!o) return undefined;
    this.objects.delete(key);
    const ns = o.metadata?.namespace ?? "";
    const m = this.byNamespace.get(ns);
    m?.delete(key);
    if (m?.size === 0) this.byNamespace.delete(ns);
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name)!;
      for (const v of fn(o)) {
        const slot = `${ns}\0${v}`;
        const s = idx.get(slot);
        s?.delete(key);
        if (s?.size === 0) idx.delete(slot);
      }
    }
    return o;
  }

  /** Every key. */
  keys(): string[] {
    return [...this.objects.keys()];
  }
}
