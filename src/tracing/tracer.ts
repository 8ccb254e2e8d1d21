/**
 * podplug's tracer: OpenTelemetry, on when the `OTEL_*` variables ask for it
 * (src/tracing/config.ts) or when the application registered an OpenTelemetry
 * SDK of its own. Off, nothing is wrapped and calls cost nothing extra.
 * The export queue is bounded; spans it drops are counted in
 * `podplug_trace_spans_dropped_total`, and an unreachable backend never
 * slows or fails a call (export runs off the call path).
 */
import { context, propagation, TraceFlags, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { Counter } from "prom-client";
import { type TracingConfig, tracingSettings } from "./config.ts";

/** The instrumentation scope of podplug's spans. */
export const TRACER_NAME = "podplug";

/** What the SDKs use when tracing is on. */
export interface Tracing {
  tracer: Tracer;
  /** Exports what is queued (bounded by `timeoutMs`); the SDKs call it before a process exits. */
  flush(timeoutMs?: number): Promise<void>;
}

interface Own {
  tracing: Tracing;
  provider: TracerProvider;
}

let settled: { own: Own | undefined; warnings: string[] } | undefined;

function sampler(c: TracingConfig): Sampler {
  const root = (name: string): Sampler =>
    name.endsWith("always_off")
      ? new AlwaysOffSampler()
      : name.endsWith("traceidratio")
        ? new TraceIdRatioBasedSampler(c.ratio)
        : new AlwaysOnSampler();
  return c.sampler.startsWith("parentbased_") ? new ParentBasedSampler({ root: root(c.sampler) }) : root(c.sampler);
}

let counters: { exported: Counter; dropped: Counter<"reason"> } | undefined;
function spanCounters(): { exported: Counter; dropped: Counter<"reason"> } {
  counters ??= {
    exported: new Counter({ name: "podplug_trace_spans_exported_total", help: "Spans exported to the trace backend." }),
    dropped: new Counter({
      name: "podplug_trace_spans_dropped_total",
      help: "Spans dropped: the export queue was full, or the backend refused or could not be reached.",
      labelNames: ["reason"],
    }),
  };
  return counters;
}

/** Bounds the spans waiting for export and counts what is exported and dropped. */
class CountingProcessor implements SpanProcessor {
  private pending = 0;
  private readonly inner: BatchSpanProcessor;
  private readonly max: number;

  constructor(exporter: SpanExporter, c: TracingConfig) {
    const n = spanCounters();
    const counted: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (r) => {
          this.pending -= spans.length;
          if (r.code === ExportResultCode.SUCCESS) n.exported.inc(spans.length);
          else n.dropped.inc({ reason: "export_failed" }, spans.length);
          done(r);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.max = c.maxQueueSize;
    this.inner = new BatchSpanProcessor({
      exporter: counted,
      maxQueueSize: c.maxQueueSize,
      maxExportBatchSize: c.maxExportBatchSize,
      scheduledDelayMillis: c.scheduleDelayMs,
      exportTimeoutMillis: c.exportTimeoutMs,
    });
  }

  onStart(...args: Parameters<SpanProcessor["onStart"]>): void {
    this.inner.onStart(...args);
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.pending >= this.max) {
      spanCounters().dropped.inc({ reason: "queue_full" });
      return;
    }
    this.pending++;
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

function start(c: TracingConfig): Own {
  const exporter: SpanExporter = c.exporter === "console" ? new ConsoleSpanExporter() : new OTLPTraceExporter();
  const resource = resourceFromAttributes({ "service.name": c.serviceName }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new TracerProvider({
    sampler: sampler(c),
    resource,
    spanProcessors: [new CountingProcessor(exporter, c)],
  });
  // podplug's own provider, context manager and propagator, registered only when the application has none.
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    provider,
    tracing: {
      tracer: provider.getTracer(TRACER_NAME),
      flush: (timeoutMs = 2000) =>
        Promise.race([provider.forceFlush(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]),
    },
  };
}

/** True when the application registered an OpenTelemetry SDK of its own. */
function applicationProvider(): boolean {
  const p = trace.getTracerProvider() as { getDelegate?: () => object };
  const delegate = p.getDelegate?.() ?? p;
  return delegate.constructor.name !== "NoopTracerProvider";
}

/**
 * podplug's tracing, or undefined when it is off. Reads the environment once
 * per process (`defaultServiceName` names the service without
 * OTEL_SERVICE_NAME); `warn` gets each configuration warning, once.
 */
export function podplugTracing(defaultServiceName: string, warn?: (message: string) => void): Tracing | undefined {
  if (!settled) {
    const s = tracingSettings(process.env, defaultServiceName);
    let own: Own | undefined;
    if (s.config) {
      try {
        own = start(s.config);
      } catch (err) {
        s.warnings.push(`tracing could not start: ${(err as Error).message}; it stays off`);
      }
    }
    settled = { own, warnings: s.warnings };
    for (const w of s.warnings) warn?.(w);
  }
  if (settled.own) return settled.own.tracing;
  if (applicationProvider())
    return {
      tracer: trace.getTracer(TRACER_NAME),
      flush: async () => {},
    };
  return undefined;
}
