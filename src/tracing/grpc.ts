/**
 * Trace context across host, plugin and broker callbacks: W3C `traceparent`
 * and `tracestate` in gRPC metadata, as otelgrpc and grpc-go's OpenTelemetry
 * plugin carry them, so a Go plugin instrumented with otelgrpc joins the same
 * trace. A client span per call on the caller's channel, a server span per
 * call in the callee's handler, and the handler runs inside its span so the
 * calls it makes (a plugin's callback into its host) are its children.
 * Span names and attributes follow OpenTelemetry's RPC conventions.
 */
import type * as grpc from "@grpc/grpc-js";
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import type { ServiceRegistrar } from "../transport/index.ts";
import type { Tracing } from "./tracer.ts";

const setter: TextMapSetter<grpc.Metadata> = {
  set: (md, key, value) => md.set(key, value),
};
const getter: TextMapGetter<grpc.Metadata> = {
  get: (md, key) => {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
  keys: (md) => Object.keys(md.getMap()),
};

/** `/pkg.Service/Method` → span name `pkg.Service/Method` and its rpc.* attributes. */
function rpcNames(path: string): { name: string; attributes: Attributes } {
  const trimmed = path.startsWith("/") ? path.slice(1) : path;
  const slash = trimmed.lastIndexOf("/");
  return {
    name: trimmed,
    attributes: {
      "rpc.system": "grpc",
      "rpc.service": slash > 0 ? trimmed.slice(0, slash) : trimmed,
      "rpc.method": slash > 0 ? trimmed.slice(slash + 1) : "",
    },
  };
}

function endWith(span: Span, code: number, details: string): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  span.end();
}

/**
 * `channel` with a client span around every call and the caller's trace
 * context in its metadata. Every client made on it is traced, however made.
 */
export function tracedChannel(
  channel: grpc.ChannelInterface,
  tracing: Tracing,
  attributes: Attributes,
): grpc.ChannelInterface {
  // Per method, once: the span name and its attributes (a channel calls few methods, many times).
  const names = new Map<string, { name: string; attributes: Attributes }>();
  const named = (method: string): { name: string; attributes: Attributes } => {
    let n = names.get(method);
    if (!n) {
      const r = rpcNames(method);
      n = { name: r.name, attributes: { ...r.attributes, ...attributes } };
      names.set(method, n);
    }
    return n;
  };
  const createCall: grpc.ChannelInterface["createCall"] = (method, ...rest) => {
    const call = channel.createCall(method, ...rest);
    const parent = context.active();
    const n = named(method);
    // The call itself with its start replaced: cheaper per call than a Proxy over every property.
    const start = call.start.bind(call);
    call.start = (metadata: grpc.Metadata, listener: grpc.InterceptingListener): void => {
      const span = tracing.tracer.startSpan(n.name, { kind: SpanKind.CLIENT, attributes: n.attributes }, parent);
      propagation.inject(trace.setSpan(parent, span), metadata, setter);
      start(metadata, {
        onReceiveMetadata: (md) => listener.onReceiveMetadata(md),
        onReceiveMessage: (m) => listener.onReceiveMessage(m),
        onReceiveStatus: (s) => {
          endWith(span, s.code, s.details);
          listener.onReceiveStatus(s);
        },
      } as grpc.InterceptingListener);
    };
    return call;
  };
  return {
    createCall,
    close: () => channel.close(),
    getTarget: () => channel.getTarget(),
    getConnectivityState: (tryToConnect) => channel.getConnectivityState(tryToConnect),
    watchConnectivityState: (current, deadline, callback) =>
      channel.watchConnectivityState(current, deadline, callback),
    getChannelzRef: () => channel.getChannelzRef(),
  };
}

type Handler = (
  call: { metadata: grpc.Metadata; on?: (e: string, f: (...a: unknown[]) => void) => unknown },
  cb?: (...a: unknown[]) => void,
) => unknown;

function tracedHandler(
  tracing: Tracing,
  path: string,
  streamsOut: boolean,
  fn: Handler,
  attributes: Attributes,
): Handler {
  const n = rpcNames(path);
  const options = { kind: SpanKind.SERVER, attributes: { ...n.attributes, ...attributes } };
  return function (this: unknown, call, callback) {
    const parent: Context = propagation.extract(ROOT_CONTEXT, call.metadata, getter);
    const span = tracing.tracer.startSpan(n.name, options, parent);
    let ended = false;
    const end = (code: number, details: string): void => {
      if (ended) return;
      ended = true;
      endWith(span, code, details);
    };
    const ctx = trace.setSpan(parent, span);
    if (callback) {
      const cb = (err: unknown, ...rest: unknown[]): void => {
        const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
        if (e) end(typeof e.code === "number" ? e.code : 2, String(e.details ?? e.message ?? ""));
        else end(0, "");
        callback(err, ...rest);
      };
      return context.with(ctx, () => fn.call(this, call, cb));
    }
    if (streamsOut && call.on) {
      call.on("finish", () => end(0, ""));
      call.on("error", (err) => end(((err as { code?: number }).code ?? 2) as number, String((err as Error).message)));
      call.on("cancelled", () => end(1, "cancelled"));
      call.on("close", () => end(0, ""));
    }
    return context.with(ctx, () => fn.call(this, call));
  };
}

/** `server`, whose services' handlers each run inside a server span continuing the caller's trace. */
export function tracedRegistrar(server: ServiceRegistrar, tracing: Tracing, attributes: Attributes): ServiceRegistrar {
  return {
    addService(service, implementation) {
      const wrapped: Record<string, unknown> = { ...implementation };
      for (const [key, def] of Object.entries(service)) {
        for (const name of [key, def.originalName].filter((x): x is string => typeof x === "string")) {
          const fn = implementation[name];
          if (typeof fn === "function")
            wrapped[name] = tracedHandler(tracing, def.path, def.responseStream, fn as unknown as Handler, attributes);
        }
      }
      server.addService(service, wrapped as grpc.UntypedServiceImplementation);
    },
  };
}
