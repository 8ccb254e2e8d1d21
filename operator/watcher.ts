/**
 * List-watch of one resource into an in-memory store: a paginated list, then
 * a watch from its resourceVersion with bookmarks; relist on 410 Gone,
 * reconnect with backoff on any drop, and a watchdog on silent streams.
 * Handlers get keys and frozen read-only views; reconcile from the store, not from events
 * (PRIOR-ART.md §5, pitfalls 1-9).
 */
import type { Logger } from "pino";
import { Backoff, type BackoffOptions } from "../src/process/backoff.ts";
import type { KubeClient } from "./client.ts";
import { KubeApiError } from "./errors.ts";
import { type IndexFunc, type KubeObject, objectKey, Store } from "./store.ts";

export type { KubeObject } from "./store.ts";
export { objectKey } from "./store.ts";

/** Called on every change with the old and new object (undefined when absent). */
export type ChangeHandler<T> = (key: string, next: Readonly<T> | undefined, prev: Readonly<T> | undefined) => void;

/** Reconnect back-off, kube-runtime's watcher's: 800 ms doubling to 30 s, jitter ±50 %, reset after 120 s without a failure. */
export const WATCH_BACKOFF: BackoffOptions = { initialMs: 800, maxMs: 30_000, jitter: 0.5, resetAfterMs: 120_000 };

/** Options of a watcher. */
export interface WatcherOptions<T> {
  /**
   * Trims each object before it is stored (controller-runtime's cache
   * TransformFunc): keep only the fields the operator reads.
   */
  transform?: (o: T) => T;
  /** Index functions of the store. */
  indexers?: Record<string, IndexFunc<T>>;
  /** Label selector of the list and the watch: only matching objects reach the store. */
  labelSelector?: string;
  /**
   * Test-only: wait this long before the first list, to expose what happens
   * when this resource's list arrives last (PODPLUG_OPERATOR_TEST_PLUGIN_LIST_DELAY_MS).
   */
  firstListDelayMs?: number;
}

/** Changes of a list handed to the handler between two turns of the event loop. */
const EMIT_BATCH = 100;

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

interface ListResponse<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T & { code?: number; message?: string };
}

/** Watches `path` (a collection URL) and keeps its objects. */
export class Watcher<T extends KubeObject> {
  readonly path: string;
  /** The objects, read-only. */
  readonly store: Store<T>;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly onChange: ChangeHandler<T>;
  private readonly transform: (o: T) => T;
  private firstListDelayMs: number;
  private readonly labelSelector: string | undefined;
  private readonly backoff = new Backoff(WATCH_BACKOFF);
  private rv = "";
  private abort = new AbortController();
  private stopped = false;
  private markSynced!: () => void;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void>;
  /** Counts for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, gone: 0, drops: 0 };

  constructor(client: KubeClient, path: string, log: Logger, onChange: ChangeHandler<T>, opts: WatcherOptions<T> = {}) {
    this.client = client;
    this.path = path;
    this.log = log.child({ watch: path });
    this.onChange = onChange;
    this.transform = opts.transform ?? ((o) => o);
    this.firstListDelayMs = opts.firstListDelayMs ?? 0;
    this.labelSelector = opts.labelSelector;
    this.store = new Store<T>(opts.indexers);
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

  /** The object under `key` (`namespace/name`): a frozen, read-only view. */
  get(key: string): Readonly<T> | undefined {
    return this.store.get(key);
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
          if (this.firstListDelayMs > 0) {
            await this.sleep(this.firstListDelayMs);
            this.firstListDelayMs = 0;
            if (this.stopped) return;
          }
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
        const delay = this.backoff.next().delayMs;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, "list/watch failed: retrying");
        await this.sleep(delay);
      }
    }
  }

  // Pages of 100 (kube-runtime asks 500): a smaller peak of memory while a large list arrives; the store is updated once the list
  // is complete and differences are reported after, so a relist synthesises
  // deletes only for objects that are really gone and handlers see it whole.
  private async listAll(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.request<ListResponse<T>>("GET", this.path, {
        query: { limit: 100, continue: cont, labelSelector: this.labelSelector },
        signal: this.abort.signal,
      });
      for (const item of page.items ?? []) fresh.set(objectKey(item), this.transform(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    const changes: [string, T | undefined, T | undefined][] = [];
    for (const [k, v] of fresh) {
      const prev = this.store.get(k) as T | undefined;
      if (prev?.metadata?.resourceVersion === v.metadata?.resourceVersion) continue;
      this.store.set(k, v);
      changes.push([k, v, prev]);
    }
    for (const k of this.store.keys()) if (!fresh.has(k)) changes.push([k, undefined, this.store.delete(k)]);
    this.rv = rv;
    // The handlers of 1,000 objects run for tens of milliseconds: in batches, with the event loop's
    // turn between them (/healthz, /metrics and other watches answer meanwhile; the store is already whole).
    for (let i = 0; i < changes.length; i++) {
      if (i > 0 && i % EMIT_BATCH === 0) await yieldToLoop();
      const [k, next, prev] = changes[i]!;
      this.emit(k, next, prev);
    }
    this.markSynced();
  }

  private async watchOnce(): Promise<void> {
    this.stats.watches++;
    const timeoutSeconds = 240 + Math.floor(Math.random() * 120);
    await this.client.watch(
      this.path,
      {
        resourceVersion: this.rv,
        labelSelector: this.labelSelector,
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
    if (ev.type === "DELETED") {
      const prev = this.store.delete(key);
      this.emit(key, undefined, prev);
    } else {
      const prev = this.store.get(key);
      const next = this.transform(ev.object);
      this.store.set(key, next);
      this.emit(key, next, prev);
    }
  }

  private emit(key: string, next: Readonly<T> | undefined, prev: Readonly<T> | undefined): void {
    try {
      this.onChange(key, next, prev);
    } catch (err) {
      this.log.error({ err: (err as Error).message, key }, "change handler threw");
    }
  }
}
