/**
 * One server call of a {@link PodplugServer}: the HTTP/2 side (response
 * headers, length-prefixed messages, trailers, deadline, cancellation) in
 * {@link ServerCallCore}, and the objects handlers receive, shaped like
 * grpc-js's ServerUnaryCall / ServerReadableStream / ServerWritableStream /
 * ServerDuplexStream as far as handlers use them.
 */
import { EventEmitter } from "node:events";
import { Duplex, Readable, Writable } from "node:stream";
import { Metadata, status } from "@grpc/grpc-js";
import { encodeMessage, messageHeader, SEPARATE_PAYLOAD_BYTES } from "./message-framing.ts";
import { metadataFromHeaders } from "./metadata.ts";
import { encodeGrpcMessage } from "./status.ts";
import type { OutHeaders, ServerWireStream, WireHeaders } from "./wire.ts";

/** The four gRPC call kinds, as grpc-js names them. */
export type MethodKind = "unary" | "clientStream" | "serverStream" | "bidi";

/** A registered method: its handler and (de)serializers. */
export interface MethodEntry {
  readonly path: string;
  readonly kind: MethodKind;
  readonly handler: (call: ServerSurface, callback?: UnaryCallback) => unknown;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

/** A status as handlers report it: grpc-js's ServerErrorResponse / ServerStatusResponse. */
export interface HandlerError {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  metadata?: unknown;
}

/** grpc-js's sendUnaryData. */
export type UnaryCallback = (err: HandlerError | null, value?: unknown, trailer?: Metadata, flags?: number) => void;

/** Per-server facts a call needs. */
export interface ServerCallContext {
  readonly maxSendMessageLength: number;
  readonly peer: string;
}

/** What every handler-facing call object offers (grpc-js's ServerSurfaceCall). */
export interface ServerSurface {
  cancelled: boolean;
  readonly metadata: Metadata;
  request?: unknown;
  getPeer(): string;
  sendMetadata(md: Metadata): void;
  getDeadline(): Date | number;
  getPath(): string;
  getHost(): string;
  getAuthContext(): Record<string, never>;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

function onDeadline(core: ServerCallCore): void {
  core.sendStatus(status.DEADLINE_EXCEEDED, "Deadline exceeded");
  core.markCancelled();
}

/** The status a handler's error stands for (grpc-js's serverErrorToStatus). */
export function handlerErrorStatus(err: HandlerError): { code: status; details: string } {
  const c = err.code;
  const code = typeof c === "number" && Number.isInteger(c) && c >= 0 && c <= 16 ? (c as status) : status.UNKNOWN;
  const details =
    typeof err.details === "string" ? err.details : typeof err.message === "string" ? err.message : "Unknown error";
  return { code, details };
}

function isMetadata(v: unknown): v is Metadata {
  return v instanceof Metadata;
}

/** The HTTP/2 side of one server call. */
export class ServerCallCore {
  readonly wire: ServerWireStream;
  readonly entry: MethodEntry;
  readonly deadline: number;
  /** The handler-facing object, once made. */
  facade: ServerSurface | undefined;
  private readonly ctx: ServerCallContext;
  private readonly reqHeaders: WireHeaders;
  private md: Metadata | undefined;
  private timer: NodeJS.Timeout | undefined;
  private headersSent = false;
  /** Status sent, or the stream is gone. */
  done = false;
  cancelled = false;

  constructor(
    wire: ServerWireStream,
    headers: WireHeaders,
    entry: MethodEntry,
    ctx: ServerCallContext,
    timeoutMs: number | undefined,
  ) {
    this.wire = wire;
    this.reqHeaders = headers;
    this.entry = entry;
    this.ctx = ctx;
    if (timeoutMs === undefined) {
      this.deadline = Infinity;
    } else {
      this.deadline = Date.now() + timeoutMs;
      this.timer = setTimeout(onDeadline, timeoutMs, this);
    }
  }

  /** Request metadata, built on first use (most handlers never look). */
  get metadata(): Metadata {
    return (this.md ??= metadataFromHeaders(this.reqHeaders));
  }

  get peer(): string {
    return this.ctx.peer;
  }

  /** One request header as received. */
  requestHeader(name: string): string | string[] | undefined {
    return this.reqHeaders[name];
  }

  get host(): string {
    const a = this.reqHeaders[":authority"];
    return typeof a === "string" ? a : "";
  }

  sendMetadata(md: Metadata | undefined): void {
    if (this.headersSent || this.done) return;
    this.headersSent = true;
    this.wire.sendHeaders(md ? metadataHeaders(md) : undefined);
  }

  /** Serializes and sends one message; false when the call failed instead (status already sent). */
  sendMessage(value: unknown, cb?: (err?: Error | null) => void): boolean {
    const payload = this.serialize(value);
    if (!payload) {
      if (cb) process.nextTick(cb);
      return false;
    }
    if (!this.headersSent) this.sendMetadata(undefined);
    this.wire.write(this.frame(payload), cb);
    return true;
  }

  /** A unary response: headers, the message and the OK status in as few writes as the engine allows. */
  sendResponse(value: unknown, trailer: Metadata | undefined): void {
    const payload = this.serialize(value);
    if (!payload) return;
    if (!this.headersSent) this.sendMetadata(undefined);
    this.done = true;
    this.clearTimer();
    this.wire.finish(this.trailers(status.OK, "", trailer), true, this.frame(payload));
  }

  /** Ends the call with a status (Trailers-Only when nothing was sent yet). */
  sendStatus(code: status, details: string, md?: Metadata | null): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    const sent = this.headersSent;
    this.headersSent = true;
    this.wire.finish(this.trailers(code, details, md ?? undefined), sent);
  }

  /** Fails the call with an error a handler reported. */
  sendError(err: HandlerError, trailer?: Metadata): void {
    const { code, details } = handlerErrorStatus(err);
    this.sendStatus(code, details, trailer ?? (isMetadata(err.metadata) ? err.metadata : undefined));
  }

  /** @internal The stream is gone; before a status that means the client cancelled (or the connection died). */
  onClose(): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.markCancelled();
  }

  /** @internal Marks the call cancelled and tells the handler ('cancelled'; streams are destroyed, as grpc-js does). */
  markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const f = this.facade;
    if (!f) return;
    f.cancelled = true;
    f.emit("cancelled", "cancelled");
    if (f instanceof PodplugServerReadableStream || f instanceof PodplugServerDuplexStream) f.destroy();
    this.wire.cancel();
  }

  /**
   * The bytes to write last for one message: header and payload joined when
   * small; a large payload as it is, its header written here first (no copy).
   */
  private frame(payload: Buffer): Buffer {
    if (payload.length < SEPARATE_PAYLOAD_BYTES) return encodeMessage(payload);
    this.wire.write(messageHeader(payload.length));
    return payload;
  }

  private serialize(value: unknown): Buffer | undefined {
    if (this.done) return undefined;
    let payload: Buffer;
    try {
      payload = this.entry.serialize(value);
    } catch (err) {
      this.sendStatus(status.INTERNAL, `Error serializing response: ${(err as Error).message}`);
      return undefined;
    }
    const max = this.ctx.maxSendMessageLength;
    if (max >= 0 && payload.length > max) {
      this.sendStatus(status.RESOURCE_EXHAUSTED, `Sent message larger than max (${payload.length} vs. ${max})`);
      return undefined;
    }
    return payload;
  }

  private trailers(code: status, details: string, md: Metadata | undefined): OutHeaders {
    const t: OutHeaders = { "grpc-status": String(code) };
    if (details) t["grpc-message"] = encodeGrpcMessage(details);
    if (md) Object.assign(t, metadataHeaders(md));
    return t;
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

// The mixin pattern needs constructors typed `any[]` (TypeScript's rule); nothing `any` leaves this file.
// biome-ignore lint/suspicious/noExplicitAny: TypeScript requires any[] for mixin constructors
type Ctor<T> = new (...args: any[]) => T;

/** Adds grpc-js's ServerSurfaceCall methods to an EventEmitter or stream class. */
function surface<B extends Ctor<EventEmitter>>(Base: B) {
  return class extends Base {
    core!: ServerCallCore;
    cancelled = false;
    request: unknown = undefined;
    get metadata(): Metadata {
      return this.core.metadata;
    }
    getPeer(): string {
      return this.core.peer;
    }
    sendMetadata(md: Metadata): void {
      this.core.sendMetadata(md);
    }
    getDeadline(): Date | number {
      return this.core.deadline;
    }
    getPath(): string {
      return this.core.entry.path;
    }
    getHost(): string {
      return this.core.host;
    }
    getAuthContext(): Record<string, never> {
      return {};
    }
  };
}

/**
 * Request messages a handler holds unread past this many bytes: the stream
 * stops taking data (one stream window), so a fast client meets flow control
 * before the paused bound would reset it.
 */
export const HELD_PAUSE_BYTES = 1 << 20;

/**
 * Adds the request side to a handler's readable stream: each message it holds
 * unread counts against the connection's paused bytes (ServerWireStream.hold)
 * until the handler reads it, and past {@link HELD_PAUSE_BYTES} (or the
 * stream's own high-water mark) the stream stops taking data.
 */
function requests<B extends Ctor<Readable & { core: ServerCallCore }>>(Base: B) {
  return class extends Base {
    /** @internal Sizes of the messages in the readable buffer, oldest first. */
    held: number[] = [];
    /** @internal */
    heldBytes = 0;
    /** @internal A request message for the handler, `bytes` long on the wire. */
    offerRequest(msg: unknown, bytes: number): void {
      const before = this.readableLength;
      const more = this.push(msg);
      // A message handed straight to a 'data' listener is not held.
      if (this.readableLength > before) {
        this.held.push(bytes);
        this.heldBytes += bytes;
        this.core.wire.hold(bytes);
      }
      if (!more || this.heldBytes > HELD_PAUSE_BYTES) this.core.wire.pause();
    }
    override read(size?: number): unknown {
      const m = super.read(size);
      this.settle();
      return m;
    }
    override _read(): void {
      this.settle();
      if (this.heldBytes <= HELD_PAUSE_BYTES) this.core.wire.resume();
    }
    override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
      this.core.wire.hold(-this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
      super._destroy(err, cb);
    }
    /** @internal Gives back what the handler has read since (the buffer keeps the newest `readableLength`). */
    settle(): void {
      let freed = 0;
      while (this.held.length > this.readableLength) freed += this.held.shift()!;
      if (freed === 0) return;
      this.heldBytes -= freed;
      this.core.wire.hold(-freed);
      if (this.heldBytes <= HELD_PAUSE_BYTES && this.readableLength < this.readableHighWaterMark)
        this.core.wire.resume();
    }
  };
}

/** Adds grpc-js's response-stream behaviour (write, end(trailers), 'error' as status) to a surface class. */
function sink<B extends Ctor<Writable & { core: ServerCallCore }>>(Base: B) {
  return class extends Base {
    /** @internal */
    trailer: Metadata | undefined;
    /** @internal */
    pendingError: HandlerError | undefined;
    // biome-ignore lint/suspicious/noExplicitAny: mixin constructor, see Ctor
    constructor(...args: any[]) {
      super(...args);
      // grpc-js: an 'error' emitted on a response stream becomes the call's status.
      this.on("error", (err: HandlerError) => {
        this.pendingError = err;
        if (!this.writableEnded) this.end();
        else if (this.destroyed) this.core.sendError(err);
      });
    }
    override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
      this.core.sendMessage(chunk, cb);
    }
    override _final(cb: (err?: Error | null) => void): void {
      cb(null);
      if (this.pendingError) this.core.sendError(this.pendingError, this.trailer);
      else this.core.sendStatus(status.OK, "", this.trailer);
    }
    /** Ends the response; `metadata` becomes the trailers (grpc-js's signature). */
    override end(metadata?: unknown): this {
      if (isMetadata(metadata)) this.trailer = metadata;
      return super.end();
    }
  };
}

/** Handler-side unary call (grpc-js ServerUnaryCall). */
export class PodplugServerUnaryCall extends surface(EventEmitter) {
  constructor(core: ServerCallCore, request: unknown) {
    super();
    this.core = core;
    this.request = request;
  }
}

/** Handler-side client-streaming call (grpc-js ServerReadableStream). */
export class PodplugServerReadableStream extends requests(surface(Readable)) {
  constructor(core: ServerCallCore) {
    super({ objectMode: true });
    this.core = core;
  }
}

/** Handler-side server-streaming call (grpc-js ServerWritableStream). */
export class PodplugServerWritableStream extends sink(surface(Writable)) {
  constructor(core: ServerCallCore, request: unknown) {
    super({ objectMode: true });
    this.core = core;
    this.request = request;
  }
}

/** Handler-side bidirectional call (grpc-js ServerDuplexStream). */
export class PodplugServerDuplexStream extends requests(sink(surface(Duplex))) {
  constructor(core: ServerCallCore) {
    super({ objectMode: true });
    this.core = core;
  }
}

/** Metadata as header fields (binary values base64), grpc-js's own conversion. */
function metadataHeaders(md: Metadata): OutHeaders {
  const h = md.toHttp2Headers();
  const out: OutHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v !== undefined) out[k] = String(v);
  }
  return out;
}
