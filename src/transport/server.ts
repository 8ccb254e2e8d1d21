/**
 * FastServer: the part of grpc-js's Server that podplug uses (addService,
 * bindAsync on a Unix socket, tryShutdown, forceShutdown), served by
 * node:http2 directly. Plaintext h2c, or TLS with ALPN h2 that requires and
 * verifies the client's certificate (go-plugin's AutoMTLS), taken from the
 * same grpc-js ServerCredentials podplug already builds.
 */
import * as http2 from "node:http2";
import type { ServerCredentials, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { inflate } from "./compression.ts";
import { TransportError, unixPath } from "./errors.ts";
import { Deframer } from "./frame.ts";
import {
  FastServerDuplexStream,
  FastServerReadableStream,
  FastServerUnaryCall,
  FastServerWritableStream,
  ignoreError,
  ServerCallCore,
  type MethodEntry,
  type MethodKind,
  type ServerCallContext,
  type UnaryCallback,
} from "./server-call.ts";
import { parseTimeout } from "./status.ts";

/** What plugin code needs of a server to register services: grpc.Server and FastServer both fit. */
export interface ServiceRegistrar {
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void;
}

/** Options, under grpc-js's channel-argument names. */
export interface FastServerOptions {
  /** Largest request message, -1 for no limit (grpc-js default: 4 MiB). */
  "grpc.max_receive_message_length"?: number;
  /** Largest response message, -1 for no limit (the default). */
  "grpc.max_send_message_length"?: number;
  /** Other grpc-js options are accepted and ignored. */
  [other: string]: unknown;
}

/** The PEMs of a TLS server that requires client certificates. */
export interface FastServerTls {
  ca: string | Buffer | (string | Buffer)[];
  key: string | Buffer | (string | Buffer)[];
  cert: string | Buffer | (string | Buffer)[];
  /** Require and verify a client certificate signed by `ca` (go-plugin AutoMTLS). Default true. */
  requireClientCert?: boolean;
}

const kCall = Symbol("podplug.serverCallCore");

/** A gRPC server on a Unix socket, wire-compatible with grpc-go and grpc-js peers. */
export class FastServer implements ServiceRegistrar {
  private readonly methods = new Map<string, MethodEntry>();
  private readonly maxReceive: number;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private h2: http2.Http2Server | http2.Http2SecureServer | undefined;
  private ctx: ServerCallContext = { maxSendMessageLength: -1, peer: "" };
  private shuttingDown = false;

  constructor(options: FastServerOptions = {}) {
    this.maxReceive = numberOption(options["grpc.max_receive_message_length"], 4 * 1024 * 1024);
    this.ctx = { maxSendMessageLength: numberOption(options["grpc.max_send_message_length"], -1), peer: "" };
  }

  /** Registers every method of `service`; the implementation is looked up by method name, as grpc-js does. */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    if (this.h2) throw new TransportError("TRANSPORT_SERVER_STARTED", "addService() after bindAsync(): register services before binding.");
    for (const [name, def] of Object.entries(service)) {
      let fn: unknown = implementation[name];
      if (fn === undefined && typeof def.originalName === "string") fn = implementation[def.originalName];
      if (typeof fn !== "function") continue; // grpc-js answers UNIMPLEMENTED for missing methods; so do we
      if (this.methods.has(def.path)) throw new TransportError("TRANSPORT_SERVICE_INVALID", `method ${def.path} is already registered.`);
      const kind: MethodKind = def.requestStream ? (def.responseStream ? "bidi" : "clientStream") : def.responseStream ? "serverStream" : "unary";
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
   * Listens on `unix://path`. `credentials`: grpc-js's insecure or createSsl
   * credentials (their PEMs are used as they are), or PEMs directly.
   * `callback` gets the error, or null and port 1 (grpc-js's answer for Unix sockets).
   */
  bindAsync(port: string, credentials: ServerCredentials | FastServerTls | null, callback: (err: Error | null, port: number) => void): void {
    let path: string;
    let tlsOpts: FastServerTls | undefined;
    try {
      if (this.h2) throw new TransportError("TRANSPORT_SERVER_STARTED", "FastServer is already bound; one socket per server.");
      path = unixPath(port);
      tlsOpts = tlsFrom(credentials);
    } catch (err) {
      process.nextTick(callback, err as Error, 0);
      return;
    }
    const common = {
      // Default flow-control windows, as grpc-js (see channel.ts on larger ones).
      settings: { enablePush: false },
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    const server = tlsOpts
      ? http2.createSecureServer({
          ...common,
          ca: tlsOpts.ca,
          key: tlsOpts.key,
          cert: tlsOpts.cert,
          requestCert: tlsOpts.requireClientCert ?? true,
          rejectUnauthorized: tlsOpts.requireClientCert ?? true,
          ALPNProtocols: ["h2"],
          allowHTTP1: false,
        })
      : http2.createServer(common);
    this.ctx = { maxSendMessageLength: this.ctx.maxSendMessageLength, peer: `unix:${path}` };
    server.on("session", (session: http2.ServerHttp2Session) => this.onSession(session));
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.onStream(stream, headers));
    server.on("unknownProtocol", (socket: { destroy(): void }) => socket.destroy());
    const onListenError = (err: Error): void => {
      this.h2 = undefined;
      callback(new TransportError("TRANSPORT_BIND_FAILED", `cannot listen on ${path}: ${err.message}`, { cause: err }), 0);
    };
    server.once("error", onListenError);
    this.h2 = server;
    server.listen(path, () => {
      server.off("error", onListenError);
      server.on("error", ignoreError);
      callback(null, 1);
    });
  }

  /** Stops accepting connections, lets calls in flight finish, then calls back. */
  tryShutdown(callback: (err?: Error) => void): void {
    this.shuttingDown = true;
    const server = this.h2;
    if (!server) {
      process.nextTick(callback);
      return;
    }
    let pending = 1 + this.sessions.size;
    const done = (): void => {
      if (--pending === 0) callback();
    };
    server.close(() => done());
    for (const s of this.sessions) {
      if (s.closed || s.destroyed) done();
      else s.close(done);
    }
  }

  /** Closes the socket and every connection at once; calls in flight see a cancellation. */
  forceShutdown(): void {
    this.shuttingDown = true;
    const server = this.h2;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    server?.close();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    if (this.shuttingDown) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    session.on("error", ignoreError);
    session.once("close", () => this.sessions.delete(session));
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on("error", ignoreError);
    const ct = headers["content-type"];
    if (typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    const path = headers[":path"];
    const entry = typeof path === "string" ? this.methods.get(path) : undefined;
    if (!entry) {
      trailersOnly(stream, status.UNIMPLEMENTED, `The server does not implement the method ${String(path)}`);
      return;
    }
    const core = new ServerCallCore(stream, headers, entry, this.ctx, parseTimeout(headers["grpc-timeout"]));
    const call = new IncomingCall(core, this.maxReceive);
    (stream as TaggedStream)[kCall] = call;
    stream.on("data", onData);
    stream.on("end", onEnd);
    if (entry.kind === "clientStream" || entry.kind === "bidi") call.startStreaming();
  }
}

interface TaggedStream extends http2.ServerHttp2Stream {
  [kCall]?: IncomingCall;
}
function onData(this: TaggedStream, chunk: Buffer): void {
  this[kCall]?.onData(chunk);
}
function onEnd(this: TaggedStream): void {
  this[kCall]?.onEnd();
}

/** The request side of one call: deframing, deserializing, and invoking the handler. */
class IncomingCall {
  private readonly core: ServerCallCore;
  private readonly deframer: Deframer;
  private request: unknown = undefined;
  private count = 0;
  private reader: FastServerReadableStream | FastServerDuplexStream | undefined;
  private readonly onMessage = (payload: Buffer, compressed: boolean): void => {
    if (!compressed) return this.message(payload);
    const r = inflate(payload, this.core.requestHeader("grpc-encoding"), this.deframer.maxLength, status.UNIMPLEMENTED);
    if (Buffer.isBuffer(r)) this.message(r);
    else this.core.sendStatus(r.code, r.details);
  };

  constructor(core: ServerCallCore, maxReceive: number) {
    this.core = core;
    this.deframer = new Deframer(maxReceive);
  }

  /** Client-streaming and bidi: the handler runs at once and reads messages as a stream. */
  startStreaming(): void {
    const core = this.core;
    const reader = core.entry.kind === "bidi" ? new FastServerDuplexStream(core) : new FastServerReadableStream(core);
    this.reader = reader;
    core.facade = reader;
    if (core.entry.kind === "bidi") this.invoke(reader);
    else this.invoke(reader, unaryCallback(core));
  }

  onData(chunk: Buffer): void {
    if (this.core.done) return;
    if (this.deframer.push(chunk, this.onMessage)) return;
    if (this.deframer.failure === "too-large") {
      this.core.sendStatus(status.RESOURCE_EXHAUSTED, `Received message larger than max (${this.deframer.failedLength} vs. ${this.deframer.maxLength})`);
    } else {
      this.core.sendStatus(status.INTERNAL, "Received a message with an invalid compression flag");
    }
    this.core.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  onEnd(): void {
    const core = this.core;
    (core.stream as TaggedStream)[kCall] = undefined;
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
      core.sendStatus(status.UNIMPLEMENTED, `Expected exactly one request message for ${core.entry.path}, received ${this.count}`);
      return;
    }
    if (core.entry.kind === "unary") {
      const call = new FastServerUnaryCall(core, this.request);
      core.facade = call;
      this.invoke(call, unaryCallback(core));
    } else {
      const call = new FastServerWritableStream(core, this.request);
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
      // The handler's stream is full: stop reading so HTTP/2 flow control pushes back.
      if (!this.reader.push(msg)) this.core.stream.pause();
      return;
    }
    this.count++;
    this.request = msg;
  }

  private invoke(call: FastServerUnaryCall | FastServerReadableStream | FastServerWritableStream | FastServerDuplexStream, cb?: UnaryCallback): void {
    const core = this.core;
    const thrown = (err: unknown): void => {
      core.sendStatus(status.UNKNOWN, `Server method handler threw error ${err instanceof Error ? err.message : String(err)}`);
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

function trailersOnly(stream: http2.ServerHttp2Stream, code: status, details: string): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": details }, { endStream: true });
}

function numberOption(v: unknown, dflt: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : dflt;
}

/** TLS PEMs from grpc-js ServerCredentials (insecure: none) or from a {@link FastServerTls}. */
function tlsFrom(creds: ServerCredentials | FastServerTls | null): FastServerTls | undefined {
  if (creds === null) return undefined;
  if (!("_isSecure" in creds)) return creds;
  if (!creds._isSecure()) return undefined;
  const ctx = creds._getSecureContextOptions();
  const ctor = creds._getConstructorOptions();
  if (!ctx?.key || !ctx.cert || !ctx.ca) {
    throw new TransportError("TRANSPORT_CREDENTIALS_INVALID", "FastServer needs TLS credentials with a key, a certificate and a CA (grpc.ServerCredentials.createSsl(ca, [pair], true)).");
  }
  const pems = (v: unknown): string | Buffer | (string | Buffer)[] => v as string | Buffer | (string | Buffer)[];
  return { ca: pems(ctx.ca), key: pems(ctx.key), cert: pems(ctx.cert), requireClientCert: ctor?.requestCert === true };
}
