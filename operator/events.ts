/**
 * Events (core/v1) about Plugins and workloads, as `kubectl describe` shows
 * them. The same event is not repeated within five minutes, and changes of
 * one kind noted less than a second apart (a Plugin joining 300 workloads;
 * at most ten seconds in all) make one Event that lists them, as client-go's
 * event correlator aggregates.
 */
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { settleWithin } from "./settle.ts";

/** The object an Event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

const COMPONENT = "podplug-operator";

/** Posts Events; failures are logged, never thrown (an Event is best effort). */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly recent = new Map<string, number>();
  private readonly pending = new Map<
    string,
    { target: EventTarget; type: "Normal" | "Warning"; reason: string; phrase: string; items: string[] }
  >();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private firstNoted = 0;
  private readonly windowMs: number;

  constructor(client: KubeClient, log: Logger, windowMs = 1000) {
    this.client = client;
    this.log = log;
    this.windowMs = windowMs;
  }

  /**
   * Notes that `phrase` happened to `item` (e.g. "sidecar podplug-kv added to",
   * "Deployment web"); what is noted for the same target, reason and phrase
   * within the window is posted as one Event.
   */
  note(target: EventTarget, type: "Normal" | "Warning", reason: string, phrase: string, item: string): void {
    const k = `${target.uid ?? target.name}|${reason}|${phrase}`;
    const p = this.pending.get(k);
    if (p) {
      if (!p.items.includes(item)) p.items.push(item);
    } else this.pending.set(k, { target, type, reason, phrase, items: [item] });
    // Posted a window after the last note, but never later than ten windows after the first.
    const now = Date.now();
    if (this.timer === undefined) this.firstNoted = now;
    else if (now - this.firstNoted < 10 * this.windowMs) clearTimeout(this.timer);
    else return;
    this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Posts what was noted now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.pending.values()) {
      const n = p.items.length;
      const shown = p.items.sort().slice(0, 10).join(", ");
      const message =
        n === 1
          ? `${p.phrase} ${shown}`
          : `${p.phrase} ${n} workloads: ${shown}${n > 10 ? `, and ${n - 10} more` : ""}`;
      this.track(this.record(p.target, p.type, p.reason, message));
    }
    this.pending.clear();
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
    const ts = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
    try {
      await this.client.request("POST", `/api/v1/namespaces/${target.namespace}/events`, {
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
