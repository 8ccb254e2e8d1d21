/**
 * PodplugServer: the part of grpc-js's Server that podplug uses (addService,
 * bindAsync on a Unix socket, tryShutdown, forceShutdown), served by
 * podplug's HTTP/2 engine (default) or node:http2. Plaintext h2c, or TLS with
 * ALPN h2 that requires and verifies the client's certificate (go-plugin's
 * AutoMTLS), from the PEMs podplug made its credentials of.
 */
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { inflate } from "./compression.ts";
import { defaultEngine, type Engine } from "./engines/dial.ts";
import { nodeHttp2ServerEngine } from "./engines/node-http2-server.ts";
import {
  type BudgetedServerEngine,
  type BudgetUse,
  type PeerOptions,
  podplugH2ServerEngine,
} from "./engines/podplug-h2-server.ts";
import { TransportError, unixPath } from "./errors.ts";
import type { ServerBudget } from "./h2/byte-budget.ts";
import type { H2Limits } from "./h2/limits.ts";
import { MessageDecoder } from "./message-framing.ts";
import {
  type MethodEntry,
  type MethodKind,
  PodplugServerDuplexStream,
  PodplugServerReadableStream,
  PodplugServerUnaryCall,
  PodplugServerWritableStream,
  type ServerCallContext,
  ServerCallCore,
  type UnaryCallback,
} from "./server-call.ts";
import { parseTimeout } from "./status.ts";
import type { ServerEngine, ServerTlsPems, ServerWireSink, ServerWireStream, WireHeaders } from "./wire.ts";

/** What plugin code needs of a server to register services: grpc.Server and PodplugServer both fit. */
export interface ServiceRegistrar {
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void;
}

/** Options, under grpc-js's channel-argument names. */
export interface PodplugServerOptions {
  /** Largest request message, -1 for no limit (grpc-js default: 4 MiB). */
  "grpc.max_receive_message_length"?: number;
  /** Largest response message, -1 for no limit (the default). */
  "grpc.max_send_message_length"?: number;
  /** The HTTP/2 implementation: podplug's HTTP/2 engine (default) or node:http2 (see PodplugChannelOptions.engine). */
  "podplug.engine"?: Engine;
  /** podplug's engine: what a client may send on a connection (defaults: DEFAULT_H2_LIMITS, docs/transport.md). */
  "podplug.h2Limits"?: Partial<H2Limits>;
  /** Called when a client broke HTTP/2 or one of the limits and its connection is closed for it (for logs). */
  "podplug.onPeerError"?: (err: TransportError) => void;
  /**
   * Connections open at a time, on either engine (default DEFAULT_MAX_CONNECTIONS, 100). Past it a new
   * connection gets GOAWAY ENHANCE_YOUR_CALM and is closed; `podplug.onPeerError` hears
   * TRANSPORT_TOO_MANY_CONNECTIONS, at most once per 10 s.
   */
  "podplug.maxConnections"?: number;
  /**
   * podplug's engine: what all connections hold together (defaults DEFAULT_SERVER_BUDGET: 64 MiB paused,
   * 64 MiB to send). Past it the stream that would go over is reset ENHANCE_YOUR_CALM, as at the
   * per-connection bounds of `podplug.h2Limits` (TRANSPORT_H2_PAUSED_LIMIT, TRANSPORT_H2_SEND_QUEUE_FULL).
   */
  "podplug.serverBudget"?: Partial<ServerBudget>;
  /** Other grpc-js options are accepted and ignored. */
  [other: string]: unknown;
}

/** The PEMs of a TLS server that requires client certificates. */
export interface ServerTlsOptions {
  ca: string | Buffer | (string | Buffer)[];
  key: string | Buffer | (string | Buffer)[];
  cert: string | Buffer | (string | Buffer)[];
  /** Require and verify a client certificate signed by `ca` (go-plugin AutoMTLS). Default true. */
  requireClientCert?: boolean;
}

/** A gRPC server on a Unix socket, wire-compatible with grpc-go and grpc-js peers. */
export class PodplugServer implements ServiceRegistrar {
  private readonly methods = new Map<string, MethodEntry>();
  private readonly maxReceive: number;
  private readonly useNodeHttp2: boolean;
  private readonly h2Options: PeerOptions;
  private h2: ServerEngine | undefined;
  private budgeted: BudgetedServerEngine | undefined;
  private ctx: ServerCallContext = { maxSendMessageLength: -1, peer: "" };

  constructor(options: PodplugServerOptions = {}) {
    this.useNodeHttp2 = (options["podplug.engine"] ?? defaultEngine()) === "node-http2";
    this.h2Options = {
      limits: options["podplug.h2Limits"],
      onPeerError: options["podplug.onPeerError"],
      maxConnections: positiveOption(options["podplug.maxConnections"], "podplug.maxConnections"),
      budget: budgetOption(options["podplug.serverBudget"]),
    };
    this.maxReceive = numberOption(options["grpc.max_receive_message_length"], 4 * 1024 * 1024);
    this.ctx = { maxSendMessageLength: numberOption(options["grpc.max_send_message_length"], -1), peer: "" };
  }

  /** Registers every method of `service`; the implementation is looked up by method name, as grpc-js does. */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    if (this.h2)
      throw new TransportError(
        "TRANSPORT_SERVER_STARTED",
        "addService() after bindAsync(): register services before binding.",
      );
    for (const [name, def] of Object.entries(service)) {
      let fn: unknown = implementation[name];
      if (fn === undefined && typeof def.originalName === "string") fn = implementation[def.originalName];
      if (typeof fn !== "function") continue; // grpc-js answers UNIMPLEMENTED for missing methods; so do we
      if (this.methods.has(def.path))
        throw new TransportError("TRANSPORT_SERVICE_INVALID", `method ${def.path} is already registered.`);
      const kind: MethodKind = def.requestStream
        ? def.responseStream
          ? "bidi"
          : "clientStream"
        : def.responseStream
          ? "serverStream"
          : "unary";
      this.methods.set(def.path, {
        path: def.path,
        kind,
        handler: fn as MethodEntry["handler"],
        serialize: def.responseSerialize as MethodEntry["serialize"],
        deserialize: def.requestDeserialize as MethodEntry["deserialize"],
      });
    }
  }

  /**
   * Listens on `unix://path`: plaintext h2c with `tls` null, else TLS from
   * the PEMs given (grpc-js keeps the PEMs of its ServerCredentials private,
   * so this server takes them directly). `callback` gets the error, or null
   * and port 1 (grpc-js's answer for Unix sockets).
   */
  bindAsync(port: string, tls: ServerTlsOptions | null, callback: (err: Error | null, port: number) => void): void {
    let path: string;
    let tlsOpts: ServerTlsOptions | undefined;
    try {
      if (this.h2)
        throw new TransportError("TRANSPORT_SERVER_STARTED", "PodplugServer is already bound; one socket per server.");
      path = unixPath(port);
      tlsOpts = checkTls(tls);
    } catch (err) {
      process.nextTick(callback, err as Error, 0);
      return;
    }
    this.ctx = { maxSendMessageLength: this.ctx.maxSendMessageLength, peer: `unix:${path}` };
    const pems: ServerTlsPems | undefined = tlsOpts && {
      ca: tlsOpts.ca,
      key: tlsOpts.key,
      cert: tlsOpts.cert,
      requireClientCert: tlsOpts.requireClientCert ?? true,
    };
    const dispatch = (wire: ServerWireStream, headers: WireHeaders): ServerWireSink | undefined =>
      this.onStream(wire, headers);
    const budgeted = this.useNodeHttp2 ? undefined : podplugH2ServerEngine(pems, dispatch, this.h2Options);
    const engine = budgeted ?? nodeHttp2ServerEngine(pems, dispatch, this.h2Options);
    this.h2 = engine;
    this.budgeted = budgeted;
    engine.listen(path, (err) => {
      if (!err) return callback(null, 1);
      this.h2 = undefined;
      this.budgeted = undefined;
      callback(
        new TransportError("TRANSPORT_BIND_FAILED", `cannot listen on ${path}: ${err.message}`, { cause: err }),
        0,
      );
    });
  }

  /** Stops accepting connections, lets calls in flight finish, then calls back. */
  tryShutdown(callback: (err?: Error) => void): void {
    const engine = this.h2;
    if (!engine) {
      process.nextTick(callback);
      return;
    }
    engine.tryShutdown(() => callback());
  }

  /** Closes the socket and every connection at once; calls in flight see a cancellation. */
  forceShutdown(): void {
    this.h2?.forceShutdown();
  }

  /**
   * What the connections hold together now against `podplug.serverBudget`
   * (podplug's engine, once bound; undefined otherwise). Read-only: every
   * stream's end, reset and connection's close gives its bytes back, so with
   * no connection open both are 0.
   */
  budgetUse(): BudgetUse | undefined {
    return this.budgeted?.budgetUse();
  }

  private onStream(wire: ServerWireStream, headers: WireHeaders): ServerWireSink | undefined {
    const ct = headers["content-type"];
    if (typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      // Not gRPC: a Trailers-Only answer names the problem (HTTP 415 would need another code path per engine).
      wire.finish(
        { "grpc-status": String(status.INTERNAL), "grpc-message": `unsupported content-type ${JSON.stringify(ct)}` },
        false,
      );
      return undefined;
    }
    const path = headers[":path"];
    const entry = typeof path === "string" ? this.methods.get(path) : undefined;
    if (!entry) {
      wire.finish(
        {
          "grpc-status": String(status.UNIMPLEMENTED),
          "grpc-message": `The server does not implement the method ${String(path)}`,
        },
        false,
      );
      return undefined;
    }
    const core = new ServerCallCore(wire, headers, entry, this.ctx, parseTimeout(headers["grpc-timeout"]));
    const call = new IncomingCall(core, this.maxReceive);
    if (entry.kind === "clientStream" || entry.kind === "bidi") call.startStreaming();
    return call;
  }
}

/** The request side of one call: deframing, deserializing, and invoking the handler. */
class IncomingCall implements ServerWireSink {
  private readonly core: ServerCallCore;
  private readonly deframer: MessageDecoder;
  private request: unknown = undefined;
  private count = 0;
  private reader: PodplugServerReadableStream | PodplugServerDuplexStream | undefined;
  private readonly onMessage = (payload: Buffer, compressed: boolean): void => {
    if (!compressed) return this.message(payload);
    const r = inflate(payload, this.core.requestHeader("grpc-encoding"), this.deframer.maxLength, status.UNIMPLEMENTED);
    if (Buffer.isBuffer(r)) this.message(r);
    else this.core.sendStatus(r.code, r.details);
  };

  constructor(core: ServerCallCore, maxReceive: number) {
    this.core = core;
    this.deframer = new MessageDecoder(maxReceive);
  }

  /** Client-streaming and bidi: the handler runs at once and reads messages as a stream. */
  startStreaming(): void {
    const core = this.core;
    const reader =
      core.entry.kind === "bidi" ? new PodplugServerDuplexStream(core) : new PodplugServerReadableStream(core);
    this.reader = reader;
    core.facade = reader;
    if (core.entry.kind === "bidi") this.invoke(reader);
    else this.invoke(reader, unaryCallback(core));
  }

  onData(chunk: Buffer): void {
    if (this.core.done) return;
    if (this.deframer.push(chunk, this.onMessage)) return;
    if (this.deframer.failure === "too-large") {
      this.core.sendStatus(
        status.RESOURCE_EXHAUSTED,
        `Received message larger than max (${this.deframer.failedLength} vs. ${this.deframer.maxLength})`,
      );
    } else {
      this.core.sendStatus(status.INTERNAL, "Received a message with an invalid compression flag");
    }
    this.core.wire.cancel();
  }

  onGone(): void {
    this.core.onClose();
  }

  onEnd(): void {
    const core = this.core;
    if (core.done) return;
    if (!this.deframer.idle) {
      core.sendStatus(status.INTERNAL, "Request ended in the middle of a message");
      return;
    }
    if (this.reader) {
      // node:http2 cancels a call by ending it (END_STREAM) and then resetting it; the reset is
      // usually in the same read. Wait one turn so a cancel is seen as one, not as a clean end.
      const reader = this.reader;
      setImmediate(() => {
        if (!core.done) reader.push(null);
      });
      return;
    }
    if (this.count !== 1) {
      core.sendStatus(
        status.UNIMPLEMENTED,
        `Expected exactly one request message for ${core.entry.path}, received ${this.count}`,
      );
      return;
    }
    if (core.entry.kind === "unary") {
      const call = new PodplugServerUnaryCall(core, this.request);
      core.facade = call;
      this.invoke(call, unaryCallback(core));
    } else {
      const call = new PodplugServerWritableStream(core, this.request);
      core.facade = call;
      this.invoke(call);
    }
  }

  private message(payload: Buffer): void {
    let msg: unknown;
    try {
      msg = this.core.entry.deserialize(payload);
    } catch (err) {
      this.core.sendStatus(status.INTERNAL, `Error deserializing request: ${(err as Error).message}`);
      return;
    }
    if (this.reader) {
      // Held until the handler reads it; a full stream stops reading so HTTP/2 flow control pushes back.
      this.reader.offerRequest(msg, payload.length);
      return;
    }
    this.count++;
    this.request = msg;
  }

  private invoke(
    call:
      | PodplugServerUnaryCall
      | PodplugServerReadableStream
      | PodplugServerWritableStream
      | PodplugServerDuplexStream,
    cb?: UnaryCallback,
  ): void {
    const core = this.core;
    const thrown = (err: unknown): void => {
      core.sendStatus(
        status.UNKNOWN,
        `Server method handler threw error ${err instanceof Error ? err.message : String(err)}`,
      );
    };
    try {
      const r = core.entry.handler(call, cb);
      // Async handlers: a rejection is a thrown error, not an unhandled rejection.
      if (r instanceof Promise) r.catch(thrown);
    } catch (err) {
      thrown(err);
    }
  }
}

/** grpc-js's sendUnaryData for one call. */
function unaryCallback(core: ServerCallCore): UnaryCallback {
  return (err, value, trailer) => {
    if (err) core.sendError(err, trailer);
    else core.sendResponse(value, trailer);
  };
}

/** A count option: undefined, or a positive integer (anything else is a coded error, not ignored). */
function positiveOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  throw new TransportError("TRANSPORT_OPTION_INVALID", `${name} must be a positive integer, got ${String(v)}.`);
}

/** `podplug.serverBudget`: undefined, or an object whose given fields are positive integers. */
function budgetOption(v: unknown): Partial<ServerBudget> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "object" || v === null)
    throw new TransportError("TRANSPORT_OPTION_INVALID", `podplug.serverBudget must be an object, got ${String(v)}.`);
  const b = v as Record<string, unknown>;
  for (const k of Object.keys(b))
    if (k !== "maxPausedBytes" && k !== "maxSendQueueBytes")
      throw new TransportError(
        "TRANSPORT_OPTION_INVALID",
        `podplug.serverBudget has no field ${k} (it takes maxPausedBytes and maxSendQueueBytes).`,
      );
  const out: Partial<ServerBudget> = {};
  for (const k of ["maxPausedBytes", "maxSendQueueBytes"] as const) {
    const n = positiveOption(b[k], `podplug.serverBudget.${k}`);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

function numberOption(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : dflt;
}

/** The TLS options, checked: a key, a certificate and a CA are all needed. */
function checkTls(tls: ServerTlsOptions | null): ServerTlsOptions | undefined {
  if (tls === null) return undefined;
  const empty = (v: ServerTlsOptions["ca"] | undefined): boolean => !v || (Array.isArray(v) && v.length === 0);
  if (empty(tls.ca) || empty(tls.key) || empty(tls.cert)) {
    throw new TransportError(
      "TRANSPORT_CREDENTIALS_INVALID",
      "PodplugServer TLS needs ca, key and cert PEMs (or null for plaintext h2c).",
    );
  }
  return tls;
}
