/**
 * The generic controller loop, apart from what it reconciles (as
 * controller-runtime's `Controller` and kube-rs's `Controller`): a
 * de-duplicating, rate-limited queue of typed object references, N workers
 * that never run one reference twice at once, the controller_runtime_*
 * metrics, and the result of each reconcile turned into what happens next:
 *  - an {@link Action} with `requeueAfterMs`: looked at again after that delay;
 *  - an Action without: done until the object (or something mapped to it) changes;
 *  - a {@link TerminalError}: reported, not retried until a change queues it again;
 *  - any other error: retried with the per-key exponential back-off.
 * Workers yield to the event loop between reconciles, so a long queue of
 * reconciles that do no I/O never starves /healthz, /metrics or the watches.
 */
import type { Logger } from "pino";
import type { Tracing } from "../src/tracing/tracer.ts";
import { isRetriable, TerminalError } from "./errors.ts";
import { describeRef, type ObjectRef, refId } from "./keys.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { settleWithin } from "./settle.ts";

/** What a reconcile asks for next (kube-rs's `Action`). */
export interface Action {
  /** Look again after this many milliseconds. */
  readonly requeueAfterMs?: number;
}

/** Done until the object changes. */
export const awaitChange: Action = Object.freeze({});

/** Look again after `ms`. */
export function requeueAfter(ms: number): Action {
  return { requeueAfterMs: ms };
}

/** One kind of reconcile: brings the world in line with the object `ref` names. */
export interface Reconciler<R extends ObjectRef> {
  reconcile(ref: R): Promise<Action>;
}

/** Settings of one controller. */
export interface ControllerOptions {
  /** Workers (parallel reconciles; never two for one reference). */
  concurrency: number;
  /** Each reconcile as a span (OTEL_*; docs/observability.md); none when tracing is off. */
  tracing?: Tracing;
}

/** OpenTelemetry's SpanStatusCode.ERROR (the API package is loaded only when tracing is on). */
const SPAN_STATUS_ERROR = 2;

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A named controller running one reconciler. */
export class Controller<R extends ObjectRef> {
  readonly name: string;
  readonly queue: WorkQueue<R>;
  private readonly reconciler: Reconciler<R>;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly opts: ControllerOptions;
  private workers: Promise<void>[] = [];
  private running = false;
  private readonly tracing: Tracing | undefined;

  constructor(name: string, reconciler: Reconciler<R>, log: Logger, metrics: OperatorMetrics, opts: ControllerOptions) {
    this.name = name;
    this.reconciler = reconciler;
    this.log = log.child({ controller: name });
    this.tracing = opts.tracing;
    this.metrics = metrics;
    this.opts = opts;
    this.queue = new WorkQueue<R>(metrics.queueHooks(name), 5, 30_000, refId);
    metrics.watchQueue(name, this.queue);
  }

  /** Queues `ref` (de-duplicated while it waits); after `delayMs`, coalescing adds meanwhile. */
  enqueue(ref: R, delayMs = 0): void {
    if (delayMs > 0) this.queue.addAfter(ref, delayMs);
    else this.queue.add(ref);
  }

  /** Starts the workers. Call only once the caches the reconciler reads have synced. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.metrics.maxConcurrent.set({ controller: this.name }, this.opts.concurrency);
    // Error counters exist at 0 from the start (as controller-runtime's do), so rates and alerts have a series.
    this.metrics.reconcileErrors.inc({ controller: this.name }, 0);
    this.metrics.terminalErrors.inc({ controller: this.name }, 0);
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.worker());
  }

  /** Stops taking work; resolves when running reconciles finished or after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    await settleWithin(Promise.all(this.workers), graceMs);
    await this.tracing?.flush();
  }

  private async worker(): Promise<void> {
    const c = { controller: this.name };
    for (;;) {
      await yieldToLoop();
      const ref = await this.queue.get();
      if (ref === undefined) return;
      const started = performance.now();
      const span = this.tracing?.tracer.startSpan(`reconcile ${this.name}`, {
        attributes: { "podplug.controller": this.name, "podplug.object": describeRef(ref) },
      });
      this.metrics.activeWorkers.inc(c);
      let result: "success" | "error" | "requeue_after" = "success";
      try {
        const action = await this.reconciler.reconcile(ref);
        this.queue.forget(ref);
        if (action.requeueAfterMs !== undefined) {
          result = "requeue_after";
          this.queue.addAfter(ref, action.requeueAfterMs);
        }
      } catch (err) {
        result = "error";
        this.metrics.reconcileErrors.inc(c);
        const fields = { ref: describeRef(ref), err: (err as Error).message, code: (err as { code?: string }).code };
        if (err instanceof TerminalError) {
          // Retrying cannot help: wait for the object to change (it is queued again then).
          this.metrics.terminalErrors.inc(c);
          this.queue.forget(ref);
          this.log.warn(fields, "reconcile refused: not retrying until the object changes");
        } else {
          this.log.warn({ ...fields, retriable: isRetriable(err) }, "reconcile failed: retrying with backoff");
          if (this.running) this.queue.addRateLimited(ref);
        }
      } finally {
        this.metrics.activeWorkers.dec(c);
        this.metrics.reconcileTotal.inc({ ...c, result });
        this.metrics.reconcileTime.observe(c, (performance.now() - started) / 1000);
        if (span) {
          span.setAttribute("podplug.result", result);
          if (result === "error") span.setStatus({ code: SPAN_STATUS_ERROR });
          span.end();
        }
        this.queue.done(ref);
      }
    }
  }
}
