/**
 * List-watch of one resource into an in-memory store: a paginated list, then
 * a watch from its resourceVersion with bookmarks; relist on 410 Gone,
 * reconnect with backoff on any drop, and a watchdog on silent streams.
 * Handlers get keys and copies; reconcile from the store, not from events
 * (PRIOR-ART.md §5, pitfalls 1-9).
 */
import type { Logger } from "pino";
import { Backoff } from "./backoff.ts";
import type { KubeClient } from "./client.ts";
import { KubeApiError } from "./errors.ts";

/** The parts of an object the watcher needs. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** Called on every change with the old and new object (undefined when absent). */
export type ChangeHandler<T> = (key: string, next: T | undefined, prev: T | undefined) => void;

interface ListResponse<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T & { code?: number; message?: string };
}

/** `namespace/name` (or `name` for cluster-scoped objects). */
export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

/** Watches `path` (a collection URL) and keeps its objects. */
export class Watcher<T extends KubeObject> {
  readonly path: string;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly onChange: ChangeHandler<T>;
  private readonly store = new Map<string, T>();
  private readonly backoff = new Backoff();
  private rv = "";
  private abort = new AbortController();
  private stopped = false;
  private markSynced!: () => void;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void>;
  /** Counts for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, gone: 0, drops: 0 };

  constructor(client: KubeClient, path: string, log: Logger, onChange: ChangeHandler<T>) {
    this.client = client;
    this.path = path;
    this.log = log.child({ watch: path });
    this.onChange = onChange;
    this.synced = new Promise((r) => {
      this.markSynced = r;
    });
  }

  /** Starts the list-watch loop in the background. */
  start(): void {
    void this.loop();
  }

  /** Stops the loop and aborts the open watch. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** A copy of the object under `key`. */
  get(key: string): T | undefined {
    const o = this.store.get(key);
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Copies of every object, optionally only those in `namespace`. */
  list(namespace?: string): T[] {
    const out: T[] = [];
    for (const o of this.store.values()) {
      if (namespace === undefined || o.metadata?.namespace === namespace) out.push(structuredClone(o));
    }
    return out;
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.listAll();
          needList = false;
        }
        await this.watchOnce();
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof KubeApiError && err.status === 410) {
          this.stats.gone++;
          this.log.info({ rv: this.rv }, "resourceVersion too old (410 Gone): relisting");
          needList = true;
          continue;
        }
        this.stats.drops++;
        const delay = this.backoff.nextDelay();
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, "list/watch failed: retrying");
        await this.sleep(delay);
      }
    }
  }

  // Pages of 500, as kube-runtime does; the store is replaced at the end and
  // differences are reported, so a relist synthesises deletes only for objects
  // that are really gone.
  private async listAll(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.request<ListResponse<T>>("GET", this.path, {
        query: { limit: 500, continue: cont },
        signal: this.abort.signal,
      });
      for (const item of page.items ?? []) fresh.set(objectKey(item), item);
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    const old = new Map(this.store);
    this.store.clear();
    for (const [k, v] of fresh) this.store.set(k, v);
    this.rv = rv;
    for (const [k, v] of fresh) {
      const prev = old.get(k);
      if (prev?.metadata?.resourceVersion !== v.metadata?.resourceVersion) this.emit(k, v, prev);
    }
    for (const [k, v] of old) if (!fresh.has(k)) this.emit(k, undefined, v);
    this.markSynced();
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    const timeoutSeconds = 240 + Math.floor(Math.random() * 120);
    await this.client.watch(
      this.path,
      {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      (raw) => this.handle(raw as WatchEvent<T>),
      { idleMs: (timeoutSeconds + 60) * 1000, signal: this.abort.signal },
    );
  }

  private handle(ev: WatchEvent<T>): void {
    if (ev.type === "ERROR") {
      const code = ev.object?.code ?? 0;
      // An in-stream 410 ends this watch; the loop relists.
      throw new KubeApiError("GET", `${this.path}?watch`, code, "WatchError", ev.object?.message ?? "error event");
    }
    const rv = ev.object?.metadata?.resourceVersion;
    if (rv) this.rv = rv;
    if (ev.type === "BOOKMARK") return;
    const key = objectKey(ev.object);
    const prev = this.store.get(key);
    if (ev.type === "DELETED") {
      this.store.delete(key);
      this.emit(key, undefined, prev);
    } else {
      this.store.set(key, ev.object);
      this.emit(key, ev.object, prev);
    }
  }

  private emit(key: string, next: T | undefined, prev: T | undefined): void {
    try {
      this.onChange(key, next, prev);
    } catch (err) {
      this.log.error({ err: (err as Error).message, key }, "change handler threw");
    }
  }
}
