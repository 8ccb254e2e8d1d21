/**
 * Events (core/v1) about Plugins and workloads, as `kubectl describe` shows
 * them. The same event is not repeated within five minutes, and changes of
 * one kind to one Plugin (a Plugin joining 300 workloads) make one Event that
 * lists them, as client-go's event correlator aggregates: they are noted, and
 * posted when the Plugin's reconcile sees none of its workloads still pending
 * ({@link EventRecorder.flushTarget}), so a converge of any length is one
 * Event per Plugin. A fallback posts what nobody flushed once it has been
 * quiet for `quietMs` or noted for `maxMs`; both are longer than any
 * converge measured (96 s at N=1000 on a machine 40× oversubscribed), so
 * the fallback never splits one.
 */
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { rfc3339Seconds } from "./rfc3339.ts";
import { settleWithin } from "./settle.ts";

/** The object an Event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** When noted changes nobody flushed are posted anyway. */
export interface EventTimings {
  /** After this long without a new note of the same kind (default 120 s). */
  quietMs: number;
  /** At the latest this long after the first note (default 300 s, the window in which an Event is not repeated). */
  maxMs: number;
}

const COMPONENT = "podplug-operator";

interface Pending {
  target: EventTarget;
  type: "Normal" | "Warning";
  reason: string;
  phrase: string;
  items: Set<string>;
  first: number;
  last: number;
}

const targetKey = (t: EventTarget): string => t.uid ?? `${t.kind}/${t.namespace}/${t.name}`;

/** Posts Events; failures are logged, never thrown (an Event is best effort). */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly recent = new Map<string, number>();
  /** Noted changes by target, then by reason and phrase. */
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly timings: EventTimings;

  constructor(client: KubeClient, log: Logger, timings: Partial<EventTimings> = {}) {
    this.client = client;
    this.log = log;
    this.timings = { quietMs: 120_000, maxMs: 300_000, ...timings };
  }

  /**
   * Notes that `phrase` happened to `item` (e.g. "sidecar podplug-kv added to",
   * "Deployment web"); what is noted for the same target, reason and phrase
   * until the target is flushed is posted as one Event.
   */
  note(target: EventTarget, type: "Normal" | "Warning", reason: string, phrase: string, item: string): void {
    const now = Date.now();
    const tk = targetKey(target);
    let byKind = this.pending.get(tk);
    if (!byKind) this.pending.set(tk, (byKind = new Map()));
    const k = `${reason}|${phrase}`;
    const p = byKind.get(k);
    if (p) {
      p.items.add(item);
      p.last = now;
    } else byKind.set(k, { target, type, reason, phrase, items: new Set([item]), first: now, last: now });
    this.timer ??= setTimeout(() => this.sweep(), Math.min(this.timings.quietMs, this.timings.maxMs));
  }

  /** Posts what was noted about `target` (its reconcile saw the change complete). */
  flushTarget(target: EventTarget): void {
    const tk = targetKey(target);
    const byKind = this.pending.get(tk);
    if (!byKind) return;
    this.pending.delete(tk);
    for (const p of byKind.values()) this.post(p);
  }

  /** Posts everything noted now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const byKind of this.pending.values()) for (const p of byKind.values()) this.post(p);
    this.pending.clear();
  }

  // The fallback: posts what has been quiet or waiting too long, and looks again while anything is left.
  private sweep(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [tk, byKind] of this.pending) {
      for (const [k, p] of byKind) {
        if (now - p.last < this.timings.quietMs && now - p.first < this.timings.maxMs) continue;
        byKind.delete(k);
        this.post(p);
      }
      if (byKind.size === 0) this.pending.delete(tk);
    }
    if (this.pending.size > 0)
      this.timer = setTimeout(() => this.sweep(), Math.min(this.timings.quietMs, this.timings.maxMs) / 4);
  }

  private post(p: Pending): void {
    const items = [...p.items].sort();
    const n = items.length;
    const shown = items.slice(0, 10).join(", ");
    const message =
      n === 1 ? `${p.phrase} ${shown}` : `${p.phrase} ${n} workloads: ${shown}${n > 10 ? `, and ${n - 10} more` : ""}`;
    this.track(this.record(p.target, p.type, p.reason, message));
  }

  /** Posts `record` in the background, remembered so close() can wait for it. */
  track(post: Promise<void>): void {
    this.inFlight.add(post);
    void post.finally(() => this.inFlight.delete(post));
  }

  /** Flushes and waits (at most `graceMs`) for Events being posted. */
  async close(graceMs = 2000): Promise<void> {
    this.flush();
    await settleWithin(Promise.all(this.inFlight), graceMs);
  }

  /** Records `reason`/`message` on `target`. */
  async record(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const dedupe = `${target.uid ?? target.name}|${reason}|${message}`;
    const now = Date.now();
    if ((this.recent.get(dedupe) ?? 0) > now - 300_000) return;
    this.recent.set(dedupe, now);
    if (this.recent.size > 5000) this.recent.clear();
    const ts = rfc3339Seconds(now);
    try {
      await this.client.write("POST", `/api/v1/namespaces/${target.namespace}/events`, {
        body: {
          apiVersion: "v1",
          kind: "Event",
          metadata: { generateName: `${target.name}.`, namespace: target.namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            name: target.name,
            namespace: target.namespace,
            uid: target.uid,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: COMPONENT },
          reportingComponent: COMPONENT,
          reportingInstance: COMPONENT,
          firstTimestamp: ts,
          lastTimestamp: ts,
          count: 1,
        },
        timeoutMs: 5000,
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, reason }, "could not record an Event");
    }
  }
}
