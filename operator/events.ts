/**
 * Events (core/v1) about Plugins and workloads, as `kubectl describe` shows
 * them. The same event is not repeated within five minutes.
 */
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";

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

  constructor(client: KubeClient, log: Logger) {
    this.client = client;
    this.log = log;
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
