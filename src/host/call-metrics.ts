/**
 * RED metrics of gRPC calls — rate, errors, duration — per plugin, service
 * and method, named as docs/metrics.md says (Prometheus naming; the labels of
 * OpenTelemetry's RPC conventions and grpc-go's interceptors: service and
 * method apart, the status code by name). A call costs a few number updates
 * on a series object its channel binds once per method; Prometheus samples
 * are built only when the registry is scraped. prom-client's own Counter and
 * Histogram hash the label set on every observation, which profiles of the
 * host's hot path showed as a visible share of a small call's CPU.
 */
import * as grpc from "@grpc/grpc-js";
import type { Metric, Registry } from "prom-client";

/** Upper bounds (seconds) of the duration histograms: a call over a Unix socket takes 50 µs to seconds. */
export const CALL_DURATION_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10,
];

/** gRPC status codes 0..16; anything else is counted as UNKNOWN. */
const CODES = 17;
const CODE_NAMES: readonly string[] = Array.from({ length: CODES }, (_, c) => grpc.status[c] ?? String(c));

/** One plugin's one method: the numbers its calls update. */
export class CallSeries {
  readonly plugin: string;
  readonly service: string;
  readonly method: string;
  /** Calls ended, by status code. */
  readonly byCode = new Float64Array(CODES);
  /** Calls per duration bucket (not cumulative; the last slot is above every bound). */
  readonly buckets = new Float64Array(CALL_DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(plugin: string, path: string) {
    this.plugin = plugin;
    // A gRPC path is /package.Service/Method.
    const slash = path.lastIndexOf("/");
    this.service = slash > 0 ? path.slice(path.startsWith("/") ? 1 : 0, slash) : "";
    this.method = slash >= 0 ? path.slice(slash + 1) : path;
  }

  /** One call ended with `code` after `seconds`. */
  record(code: number, seconds: number): void {
    this.byCode[code >= 0 && code < CODES ? code : grpc.status.UNKNOWN]!++;
    const b = CALL_DURATION_BUCKETS;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Metric names and help texts of one family pair (calls made, or calls served). */
export interface CallMetricNames {
  calls: string;
  callsHelp: string;
  duration: string;
  durationHelp: string;
}

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** The series of one family pair in one registry. */
export class CallMetrics {
  private readonly all = new Map<string, CallSeries>();

  constructor(registry: Registry, names: CallMetricNames) {
    const counter = {
      name: names.calls,
      help: names.callsHelp,
      type: "counter",
      aggregator: "sum",
      get: async () => ({ ...counter, values: this.counterSamples() }),
      reset: () => this.reset(),
    };
    const histogram = {
      name: names.duration,
      help: names.durationHelp,
      type: "histogram",
      aggregator: "sum",
      get: async () => ({ ...histogram, values: this.histogramSamples(names.duration) }),
      reset: () => this.reset(),
    };
    // prom-client's registry takes any object with its Metric's get()/reset() shape.
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
  }

  /** The series of `plugin`'s method at gRPC `path`, made on first use. */
  series(plugin: string, path: string): CallSeries {
    const key = `${plugin}\0${path}`;
    let s = this.all.get(key);
    if (!s) {
      s = new CallSeries(plugin, path);
      this.all.set(key, s);
    }
    return s;
  }

  private reset(): void {
    for (const s of this.all.values()) {
      s.byCode.fill(0);
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  private counterSamples(): Sample[] {
    const out: Sample[] = [];
    for (const s of this.all.values()) {
      for (let c = 0; c < CODES; c++) {
        const v = s.byCode[c]!;
        if (v > 0)
          out.push({
            labels: { plugin: s.plugin, service: s.service, method: s.method, code: CODE_NAMES[c]! },
            value: v,
          });
      }
    }
    return out;
  }

  private histogramSamples(name: string): Sample[] {
    const out: Sample[] = [];
    for (const s of this.all.values()) {
      if (s.count === 0) continue;
      const base = { plugin: s.plugin, service: s.service, method: s.method };
      let cumulative = 0;
      CALL_DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        out.push({ labels: { ...base, le: String(le) }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { ...base, le: "+Inf" }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: base, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: base, value: s.count, metricName: `${name}_count` });
    }
    return out;
  }
}
