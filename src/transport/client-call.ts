/**
 * One client call on a {@link FastChannel}: grpc-js's internal `Call`
 * contract (start, sendMessageWithContext, halfClose, startRead,
 * cancelWithStatus) mapped straight onto one HTTP/2 stream, without
 * grpc-js's resolving, load-balancing, retry and filter layers.
 *
 * The contract, as grpc-js's own Http2SubchannelCall keeps it: one message
 * per startRead(); an OK status only after every message was handed over; an
 * error status at once; exactly one status per call.
 */
import { constants as h2, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { Metadata, status, type InterceptingListener, type StatusObject, type experimental } from "@grpc/grpc-js";
import { inflate } from "./compression.ts";
import { Deframer, frameMessage } from "./frame.ts";
import { addMetadataToHeaders, metadataFromHeaders } from "./metadata.ts";
import { decodeGrpcMessage, formatTimeout, httpStatusToGrpc, parseGrpcStatus, rstCodeToGrpc } from "./status.ts";

/** What a call needs from its channel. */
export interface CallHost {
  /** Opens the HTTP/2 stream for a call (connecting first if needed); throws when it cannot. */
  openStream(headers: OutgoingHttpHeaders): ClientHttp2Stream;
  /** Tells the channel a call ended (for keeping the process alive only while calls run). */
  callEnded(): void;
  /** True while connected. */
  readonly ready: boolean;
  /** Calls back once connected (grpc-js's waitForReady call option), or with an error once the channel closes. */
  whenReady(cb: (err?: Error) => void, wanted: () => boolean): void;
  readonly peer: string;
  readonly maxReceiveMessageLength: number;
  readonly maxSendMessageLength: number;
}

type GrpcCall = experimental.CallStream;
type MessageContext = Parameters<GrpcCall["sendMessageWithContext"]>[0];

const kCall = Symbol("podplug.fastCall");
interface TaggedStream extends ClientHttp2Stream {
  [kCall]?: FastClientCall;
}

let nextCallNumber = 0;

// Shared listeners (`this` is the stream): no closures allocated per call.
function onResponse(this: TaggedStream, headers: IncomingHttpHeaders): void {
  this[kCall]?.onResponse(headers);
}
function onData(this: TaggedStream, chunk: Buffer): void {
  this[kCall]?.onData(chunk);
}
function onTrailers(this: TaggedStream, headers: IncomingHttpHeaders): void {
  this[kCall]?.onTrailers(headers);
}
function onEnd(this: TaggedStream): void {
  this[kCall]?.onEnd();
}
function onClose(this: TaggedStream): void {
  this[kCall]?.onClose();
}
function onError(this: TaggedStream, err: Error): void {
  this[kCall]?.onStreamError(err);
}
function deliverStatus(listener: InterceptingListener, st: StatusObject): void {
  listener.onReceiveStatus(st);
}
function onDeadline(call: FastClientCall): void {
  call.cancelWithStatus(status.DEADLINE_EXCEEDED, "Deadline exceeded");
}

/** A grpc-js `Call` carried by one HTTP/2 stream of a {@link FastChannel}. */
export class FastClientCall implements GrpcCall {
  private readonly host: CallHost;
  private readonly method: string;
  private readonly deadline: number;
  private readonly callNumber = ++nextCallNumber;
  private listener: InterceptingListener | undefined;
  private stream: TaggedStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly deframer: Deframer;
  /** Messages received but not yet asked for with startRead(). */
  private queue: Buffer[] | undefined;
  private readsWanted = 0;
  private httpStatus = 0;
  private gotHeaders = false;
  private streamError: Error | undefined;
  /** The status the peer sent (or we decided), held until the messages before it are read. */
  private pendingStatus: StatusObject | undefined;
  private ended = false;
  private halfClosed = false;
  /** node:http2 emitted every DATA byte ('end'): trailers can arrive while a paused stream still buffers data. */
  private readEnded = false;
  private readonly deliverMessage = (msg: Buffer, compressed: boolean): void => (compressed ? this.receiveCompressed(msg) : this.receive(msg));
  /** The response's grpc-encoding (for the rare peer that compresses anyway). */
  private encoding: string | string[] | undefined;
  /** Writes made while a waitForReady call waits for the connection. */
  private held: { frame: Buffer; cb: ((err?: Error | null) => void) | undefined }[] | undefined;

  constructor(host: CallHost, method: string, deadline: number) {
    this.host = host;
    this.method = method;
    this.deadline = deadline;
    this.deframer = new Deframer(host.maxReceiveMessageLength);
  }

  start(metadata: Metadata, listener: InterceptingListener): void {
    this.listener = listener;
    const headers: OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": this.method,
      "content-type": "application/grpc",
      te: "trailers",
      // user-agent is optional in gRPC; one header less per call is measurable here.
    };
    if (this.deadline !== Infinity) {
      const ms = this.deadline - Date.now();
      if (ms <= 0) {
        process.nextTick(onDeadline, this);
        return;
      }
      headers["grpc-timeout"] = formatTimeout(ms);
      this.timer = setTimeout(onDeadline, ms, this);
    }
    addMetadataToHeaders(headers, metadata);
    if (!this.host.ready && metadata.getOptions().waitForReady) {
      // Messages and the half-close wait with the call; the deadline timer still runs.
      this.held = [];
      this.host.whenReady(
        (err) => {
          if (this.ended) return;
          if (err) this.finish({ code: status.UNAVAILABLE, details: err.message, metadata: new Metadata() });
          else this.open(headers);
        },
        () => !this.ended,
      );
      return;
    }
    this.open(headers);
  }

  private open(headers: OutgoingHttpHeaders): void {
    let stream: TaggedStream;
    try {
      stream = this.host.openStream(headers);
    } catch (err) {
      // finish() reports on the next tick: grpc-js callers expect no callback inside start().
      this.finish({ code: status.UNAVAILABLE, details: `cannot open a stream to ${this.host.peer}: ${(err as Error).message}`, metadata: new Metadata() });
      return;
    }
    stream[kCall] = this;
    stream.on("response", onResponse);
    stream.on("data", onData);
    stream.on("trailers", onTrailers);
    stream.on("end", onEnd);
    stream.on("close", onClose);
    stream.on("error", onError);
    this.stream = stream;
    const held = this.held;
    if (held) {
      this.held = undefined;
      for (const w of held) this.write(w.frame, w.cb);
      if (this.halfClosed) stream.end();
    }
  }

  sendMessageWithContext(context: MessageContext, message: Buffer): void {
    const cb = context.callback;
    if (this.ended) {
      if (cb) process.nextTick(cb);
      return;
    }
    const max = this.host.maxSendMessageLength;
    if (max >= 0 && message.length > max) {
      this.cancelWithStatus(status.RESOURCE_EXHAUSTED, `Sent message larger than max (${message.length} vs. ${max})`);
      if (cb) process.nextTick(cb);
      return;
    }
    const frame = frameMessage(message);
    if (this.held) this.held.push({ frame, cb });
    else this.write(frame, cb);
  }

  private write(frame: Buffer, cb: ((err?: Error | null) => void) | undefined): void {
    const s = this.stream;
    if (!s) {
      if (cb) process.nextTick(cb);
      return;
    }
    if (!cb) {
      s.write(frame);
      return;
    }
    // As grpc-js: a failed write ends the call with a status; the writer's callback never sees the raw error.
    s.write(frame, (err?: Error | null) => {
      if (err) this.cancelWithStatus(status.UNAVAILABLE, `Write error: ${err.message}`);
      cb();
    });
  }

  halfClose(): void {
    if (this.halfClosed) return;
    this.halfClosed = true;
    if (!this.ended && this.stream) this.stream.end();
  }

  startRead(): void {
    if (this.ended) return;
    const q = this.queue;
    if (q !== undefined && q.length > 0) {
      const msg = q.shift()!;
      if (q.length === 0 && this.stream?.isPaused()) this.stream.resume();
      this.listener!.onReceiveMessage(msg);
      this.maybeFinish();
      return;
    }
    this.readsWanted++;
  }

  cancelWithStatus(code: status, details: string): void {
    if (this.ended) return;
    const s = this.stream;
    if (s && !s.closed) s.close(h2.NGHTTP2_CANCEL);
    this.finish({ code, details, metadata: new Metadata() });
  }

  getPeer(): string {
    return this.host.peer;
  }

  getCallNumber(): number {
    return this.callNumber;
  }

  setCredentials(): void {
    // Per-call credentials ride on TLS here; there is no token layer on a Unix socket.
  }

  getAuthContext(): null {
    return null;
  }

  /** @internal Response headers (or a Trailers-Only response). */
  onResponse(headers: IncomingHttpHeaders): void {
    this.gotHeaders = true;
    this.httpStatus = Number(headers[":status"]);
    if (this.httpStatus !== 200) return; // decided at close, from the HTTP status
    if (headers["grpc-status"] !== undefined) {
      this.onTrailers(headers);
      return;
    }
    const ct = headers["content-type"];
    if (typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      this.failWith(status.UNKNOWN, `Received invalid content-type ${JSON.stringify(ct)} from ${this.host.peer}`);
      return;
    }
    this.encoding = headers["grpc-encoding"];
    if (!this.ended) this.listener!.onReceiveMetadata(metadataFromHeaders(headers));
  }

  /** @internal A DATA chunk. */
  onData(chunk: Buffer): void {
    if (this.ended) return;
    if (!this.deframer.push(chunk, this.deliverMessage)) {
      if (this.deframer.failure === "too-large") {
        this.failWith(status.RESOURCE_EXHAUSTED, `Received message larger than max (${this.deframer.failedLength} vs. ${this.deframer.maxLength})`);
      } else {
        this.failWith(status.INTERNAL, "Received a message with an invalid compression flag");
      }
    }
  }

  /** @internal Trailers: the call's status. */
  onTrailers(headers: IncomingHttpHeaders): void {
    if (this.ended || this.pendingStatus) return;
    const code = parseGrpcStatus(headers["grpc-status"]);
    const raw = headers["grpc-message"];
    const details = typeof raw === "string" ? decodeGrpcMessage(raw) : "";
    this.pendingStatus = { code, details, metadata: metadataFromHeaders(headers) };
    if (code === status.OK && !this.deframer.idle) {
      this.pendingStatus = { code: status.INTERNAL, details: "Stream ended in the middle of a message", metadata: new Metadata() };
    }
    this.maybeFinish();
  }

  /** @internal All DATA was emitted. */
  onEnd(): void {
    this.readEnded = true;
    this.maybeFinish();
  }

  /** @internal The stream closed: decide a status if the peer sent none. */
  onClose(): void {
    if (this.ended) return;
    this.readEnded = true;
    if (!this.pendingStatus) this.pendingStatus = this.closedWithoutStatus();
    this.maybeFinish();
  }

  /** @internal */
  onStreamError(err: Error): void {
    this.streamError = err;
  }

  private closedWithoutStatus(): StatusObject {
    const metadata = new Metadata();
    if (this.httpStatus !== 0 && this.httpStatus !== 200) {
      return { code: httpStatusToGrpc(this.httpStatus), details: `Received HTTP status code ${this.httpStatus}`, metadata };
    }
    const s = this.stream;
    const session = s?.session;
    const why = this.streamError ? `: ${this.streamError.message}` : "";
    if (!this.gotHeaders || !session || session.destroyed || session.closed) {
      return { code: status.UNAVAILABLE, details: `Connection to ${this.host.peer} dropped${why}`, metadata };
    }
    const rst = s?.rstCode ?? h2.NGHTTP2_INTERNAL_ERROR;
    return { code: rstCodeToGrpc(rst), details: `Stream closed with RST_STREAM code ${rst}${why}`, metadata };
  }

  private receiveCompressed(msg: Buffer): void {
    const r = inflate(msg, this.encoding, this.host.maxReceiveMessageLength, status.INTERNAL);
    if (Buffer.isBuffer(r)) this.receive(r);
    else this.failWith(r.code, r.details);
  }

  private receive(msg: Buffer): void {
    if (this.readsWanted > 0 && (this.queue === undefined || this.queue.length === 0)) {
      this.readsWanted--;
      this.listener!.onReceiveMessage(msg);
      return;
    }
    (this.queue ??= []).push(msg);
    // Nobody asked for it yet: stop reading so HTTP/2 flow control pushes back on the peer.
    const s = this.stream;
    if (s && !s.isPaused()) s.pause();
  }

  private failWith(code: status, details: string): void {
    this.cancelWithStatus(code, details);
  }

  private maybeFinish(): void {
    const st = this.pendingStatus;
    if (!st || this.ended) return;
    if (st.code === status.OK && (!this.readEnded || (this.queue !== undefined && this.queue.length > 0))) return;
    this.finish(st);
  }

  private finish(st: StatusObject): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.stream;
    if (s) {
      s[kCall] = undefined;
      this.host.callEnded();
      if (s.isPaused()) s.resume(); // let node drain and free the stream
    }
    this.queue = undefined;
    // Always on the next tick, as grpc-js: callers may be mid-call (makeUnaryRequest has not returned),
    // and an unhandled 'error' thrown up there must not unwind through node:http2's handlers.
    if (this.listener) process.nextTick(deliverStatus, this.listener, st);
  }
}
