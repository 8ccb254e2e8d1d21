/**
 * Prometheus metrics under controller-runtime's names, so dashboards and
 * alerts written for controller-runtime operators work unchanged.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { QueueMetrics, WorkQueue } from "./queue.ts";

/** The operator's registry and instruments. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly terminalErrors: Counter<"controller">;
  readonly reconcileTime: Histogram<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly maxConcurrent: Gauge<"controller">;
  readonly leader: Gauge<"name">;
  readonly requests: Counter<"code" | "method">;
  /** Seconds each request waited for the client-side rate limiter. */
  readonly rateLimiterWait: Histogram;
  private readonly depth: Gauge<"name" | "controller">;
  private readonly adds: Counter<"name" | "controller">;
  private readonly retries: Counter<"name" | "controller">;
  private readonly queueLatency: Histogram<"name" | "controller">;
  private readonly workDuration: Histogram<"name" | "controller">;
  private readonly unfinished: Gauge<"name" | "controller">;
  private readonly longest: Gauge<"name" | "controller">;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const buckets = [
      0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75,
      2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
    ];
    const qBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];
    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.terminalErrors = new Counter({
      name: "controller_runtime_terminal_reconcile_errors_total",
      help: "Total number of terminal reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets,
      registers,
    });
    this.activeWorkers = new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    });
    this.maxConcurrent = new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"],
      registers,
    });
    this.leader = new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
      labelNames: ["name"],
      registers,
    });
    this.rateLimiterWait = new Histogram({
      name: "rest_client_rate_limiter_duration_seconds",
      help: "Client side rate limiter latency in seconds",
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers,
    });
    this.requests = new Counter({
      name: "rest_client_requests_total",
      help: "Number of HTTP requests, partitioned by status code and method",
      labelNames: ["code", "method"],
      registers,
    });
    this.depth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames: ["name", "controller"],
      registers,
    });
    this.adds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name", "controller"],
      registers,
    });
    this.retries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name", "controller"],
      registers,
    });
    this.queueLatency = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name", "controller"],
      buckets: qBuckets,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name", "controller"],
      buckets: qBuckets,
      registers,
    });
    this.unfinished = new Gauge({
      name: "workqueue_unfinished_work_seconds",
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
      labelNames: ["name", "controller"],
      registers,
    });
    this.longest = new Gauge({
      name: "workqueue_longest_running_processor_seconds",
      help: "How many seconds has the longest running processor for workqueue been running",
      labelNames: ["name", "controller"],
      registers,
    });
  }

  /** Hooks a work queue named `name` into the workqueue_* metrics. */
  queueHooks(name: string): QueueMetrics {
    const l = { name, controller: name };
    return {
      depth: (n) => this.depth.set(l, n),
      add: () => this.adds.inc(l),
      retry: () => this.retries.inc(l),
      queueLatency: (s) => this.queueLatency.observe(l, s),
      workDuration: (s) => this.workDuration.observe(l, s),
    };
  }

  /** Samples the in-progress gauges of `queue` at scrape time. */
  watchQueue<K>(name: string, queue: WorkQueue<K>): void {
    const l = { name, controller: name };
    const update = (): void => {
      const f = queue.inFlight();
      this.unfinished.set(l, f.totalSeconds);
      this.longest.set(l, f.longestSeconds);
    };
    this.updaters.push(update);
  }

  private readonly updaters: (() => void)[] = [];

  /** The text exposition, after refreshing sampled gauges. */
  async render(): Promise<string> {
    for (const u of this.updaters) u();
    return this.registry.metrics();
  }
}
