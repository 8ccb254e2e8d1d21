/**
 * OpenTelemetry's SDK as podplug starts it (src/tracing/tracer.ts loads this
 * module only when tracing is on): the sampler, a bounded export queue whose
 * drops are counted in `podplug_trace_spans_dropped_total`, the OTLP or
 * console exporter, and the traced channel and registrar (grpc.ts) bound to
 * the tracer.
 */
import type * as grpc from "@grpc/grpc-js";
import { type Attributes, context, propagation, TraceFlags, trace } from "@opentelemetry/api";
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
import type { ServiceRegistrar } from "../transport/index.ts";
import type { TracingConfig } from "./config.ts";
import { tracedChannel, tracedRegistrar } from "./grpc.ts";
import { TRACER_NAME, type Tracing } from "./tracer.ts";

/** `tracer` and `flush` with the traced channel and registrar bound to them. */
function withWrappers(tracer: Tracing["tracer"], flush: Tracing["flush"]): Tracing {
  const t: Tracing = {
    tracer,
    flush,
    channel: (ch: grpc.ChannelInterface, a: Attributes) => tracedChannel(ch, t, a),
    registrar: (server: ServiceRegistrar, a: Attributes) => tracedRegistrar(server, t, a),
  };
  return t;
}

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

/** Starts podplug's own provider for `c` and registers it globally. */
export function startTracing(c: TracingConfig): { tracing: Tracing; provider: TracerProvider } {
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
    tracing: withWrappers(provider.getTracer(TRACER_NAME), (timeoutMs = 2000) =>
      Promise.race([provider.forceFlush(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]),
    ),
  };
}

/** Tracing through the SDK the application registered itself. */
export function applicationTracing(): Tracing {
  return withWrappers(trace.getTracer(TRACER_NAME), async () => {});
}
