/**
 * podplug's tracer: OpenTelemetry, on when the `OTEL_*` variables ask for it
 * (src/tracing/config.ts) or when the application registered an OpenTelemetry
 * SDK of its own. Off, nothing is wrapped, calls cost nothing extra, and
 * nothing of OpenTelemetry is loaded: its SDK and API are some 290 modules, a
 * third of what a plugin process loaded at each (re)start (sdk.ts holds them).
 */
import { createRequire } from "node:module";
import type * as grpc from "@grpc/grpc-js";
import type { Attributes, Tracer } from "@opentelemetry/api";
import type { ServiceRegistrar } from "../transport/index.ts";
import { tracingSettings } from "./config.ts";

/** The instrumentation scope of podplug's spans. */
export const TRACER_NAME = "podplug";

/** What the SDKs use when tracing is on. */
export interface Tracing {
  tracer: Tracer;
  /** Exports what is queued (bounded by `timeoutMs`); the SDKs call it before a process exits. */
  flush(timeoutMs?: number): Promise<void>;
  /** `channel` with a client span and trace context on each call (grpc.ts). */
  channel(channel: grpc.ChannelInterface, attributes: Attributes): grpc.ChannelInterface;
  /** `server` whose handlers run in a server span that continues the caller's trace (grpc.ts). */
  registrar(server: ServiceRegistrar, attributes: Attributes): ServiceRegistrar;
}

type Sdk = typeof import("./sdk.ts");

let settled: { own: Tracing | undefined; warnings: string[] } | undefined;

/**
 * sdk.ts, loaded when first needed. Synchronously (require of an ES module,
 * Node ≥ 22.12): the host's Client decides in its constructor. Its extension
 * is this file's own, `.ts` from the sources and `.js` once built.
 */
function sdk(): Sdk {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return createRequire(import.meta.url)(`./sdk${ext}`) as Sdk;
}

/**
 * True when the application registered an OpenTelemetry tracer provider of
 * its own: the API keeps its globals under this symbol, so the check loads
 * nothing of OpenTelemetry.
 */
function applicationProvider(): boolean {
  const api = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[Symbol.for("opentelemetry.js.api.1")];
  return api?.trace !== undefined;
}

/**
 * podplug's tracing, or undefined when it is off. Reads the environment once
 * per process (`defaultServiceName` names the service without
 * OTEL_SERVICE_NAME); `warn` gets each configuration warning, once.
 */
export function podplugTracing(defaultServiceName: string, warn?: (message: string) => void): Tracing | undefined {
  if (!settled) {
    const s = tracingSettings(process.env, defaultServiceName);
    let own: Tracing | undefined;
    if (s.config) {
      try {
        own = sdk().startTracing(s.config).tracing;
      } catch (err) {
        s.warnings.push(`tracing could not start: ${(err as Error).message}; it stays off`);
      }
    }
    settled = { own, warnings: s.warnings };
    for (const w of s.warnings) warn?.(w);
  }
  if (settled.own) return settled.own;
  if (applicationProvider()) return sdk().applicationTracing();
  return undefined;
}
