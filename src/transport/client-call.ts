/**
 * One client call on a {@link PodplugChannel}: grpc-js's internal `Call`
 * contract (start, sendMessageWithContext, halfClose, startRead,
 * cancelWithStatus) mapped straight onto one HTTP/2 stream, without
 * grpc-js's resolving, load-balancing, retry and filter layers.
 *
 * The contract, as grpc-js's own Http2SubchannelCall keeps it: one message
 * per startRead(); exactly one status per call. A status from the peer comes
 * after every message it sent before it (grpc-go's order); one decided here
 * (cancel, deadline, limits) comes at once.
 */
import { constants as h2 } from "node:http2";
import { type experimental, type InterceptingListener, Metadata, type StatusObject, status } from "@grpc/grpc-js";
import { inflate } from "./compression.ts";
import { TransportError } from "./errors.ts";
import { encodeMessage, MessageDecoder, messageHeader, SEPARATE_PAYLOAD_BYTES } from "./message-framing.ts";
import { metadataFromHeaders } from "./metadata.ts";
import { decodeGrpcMessage, formatTimeout, httpStatusToGrpc, parseGrpcStatus, rstCodeToGrpc } from "./status.ts";
import type { RequestSpec, WireHeaders, WireSink, WireStream } from "./wire.ts";

/** What a call needs from its channel. */
export interface CallHost {
  /** Opens the HTTP/2 stream for a call (connecting first if needed); throws when it cannot. */
  openStream(spec: RequestSpec, sink: WireSink): WireStream;
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

let nextCallNumber = 0;

function deliverStatus(listener: InterceptingListener, st: StatusObject): void {
  listener.onReceiveStatus(st);
}
function onDeadline(call: PodplugClientCall): void {
  call.cancelWithStatus(status.DEADLINE_EXCEEDED, "Deadline exceeded");
}

/** A grpc-js `Call` carried by one HTTP/2 stream of a {@link PodplugChannel}. */
export class PodplugClientCall implements GrpcCall, WireSink {
  private readonly host: CallHost;
  private readonly method: string;
  private readonly deadline: number;
  private readonly callNumber = ++nextCallNumber;
  private listener: InterceptingListener | undefined;
  private stream: WireStream | undefined;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly deframer: MessageDecoder;
  /** Messages received but not yet asked for with startRead(). */
  private queue: Buffer[] | undefined;
  private readsWanted = 0;
  private httpStatus = 0;
  private gotHeaders = false;
  /** The status the peer sent (or we decided), held until the messages before it are read. */
  private pendingStatus: StatusObject | undefined;
  private ended = false;
  private halfClosed = false;
  /** Every DATA byte was reported: trailers can arrive while a paused stream still buffers data. */
  private readEnded = false;
  private readonly deliverMessage = (msg: Buffer, compressed: boolean): void =>
    compressed ? this.receiveCompressed(msg) : this.receive(msg);
  /** The response's grpc-encoding (for the rare peer that compresses anyway). */
  private encoding: string | string[] | undefined;
  /** Writes made while a waitForReady call waits for the connection. */
  private held: { frame: Buffer; cb: ((err?: Error | null) => void) | undefined }[] | undefined;

  constructor(host: CallHost, method: string, deadline: number) {
    this.host = host;
    this.method = method;
    this.deadline = deadline;
    this.deframer = new MessageDecoder(host.maxReceiveMessageLength);
  }

  start(metadata: Metadata, listener: InterceptingListener): void {
    this.listener = listener;
    let timeout: string | undefined;
    if (this.deadline !== Infinity) {
      const ms = this.deadline - Date.now();
      if (ms <= 0) {
        process.nextTick(onDeadline, this);
        return;
      }
      timeout = formatTimeout(ms);
      this.timer = setTimeout(onDeadline, ms, this);
    }
    const spec: RequestSpec = { path: this.method, timeout, metadata };
    if (!this.host.ready && metadata.getOptions().waitForReady) {
      // Messages and the half-close wait with the call; the deadline timer still runs.
      this.held = [];
      this.host.whenReady(
        (err) => {
          if (this.ended) return;
          if (err) this.finish({ code: status.UNAVAILABLE, details: err.message, metadata: new Metadata() });
          else this.open(spec);
        },
        () => !this.ended,
      );
      return;
    }
    this.open(spec);
  }

  private open(spec: RequestSpec): void {
    let stream: WireStream;
    try {
      stream = this.host.openStream(spec, this);
    } catch (err) {
      // finish() reports on the next tick: grpc-js callers expect no callback inside start().
      this.finish({
        code: status.UNAVAILABLE,
        details: `cannot open a stream to ${this.host.peer}: ${(err as Error).message}`,
        metadata: new Metadata(),
      });
      return;
    }
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
    if (message.length >= SEPARATE_PAYLOAD_BYTES) {
      // A large payload goes out as it is, after its header: no copy.
      const head = messageHeader(message.length);
      if (this.held) this.held.push({ frame: head, cb: undefined }, { frame: message, cb });
      else {
        this.write(head, undefined);
        this.write(message, cb);
      }
      return;
    }
    const frame = encodeMessage(message);
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
      if (q.length === 0 && this.paused) {
        this.paused = false;
        this.stream?.resume();
      }
      this.listener!.onReceiveMessage(msg);
      this.maybeFinish();
      return;
    }
    this.readsWanted++;
  }

  cancelWithStatus(code: status, details: string): void {
    if (this.ended) return;
    const s = this.stream;
    // Finish first: a frame-engine reset reports the stream's close synchronously.
    this.finish({ code, details, metadata: new Metadata() });
    s?.cancel();
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

  /** @internal A header block: response headers first, trailers after (or Trailers-Only). */
  onHeaders(headers: WireHeaders, endStream: boolean): void {
    if (this.gotHeaders) {
      this.onTrailers(headers);
      return;
    }
    this.gotHeaders = true;
    this.httpStatus = Number(headers[":status"]);
    if (this.httpStatus !== 200) return; // decided at close, from the HTTP status
    if (endStream || headers["grpc-status"] !== undefined) {
      this.onTrailers(headers);
      return;
    }
    const ct = headers["content-type"];
    if (typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      this.failWith(status.UNKNOWN, `Received invalid content-type ${JSON.stringify(ct)} from ${this.host.peer}`);
      return;
    }
    const enc = headers["grpc-encoding"];
    this.encoding = enc;
    if (!this.ended) this.listener!.onReceiveMetadata(metadataFromHeaders(headers));
  }

  /** @internal A DATA chunk. */
  onData(chunk: Buffer): void {
    if (this.ended) return;
    if (!this.deframer.push(chunk, this.deliverMessage)) {
      if (this.deframer.failure === "too-large") {
        this.failWith(
          status.RESOURCE_EXHAUSTED,
          `Received message larger than max (${this.deframer.failedLength} vs. ${this.deframer.maxLength})`,
        );
      } else {
        this.failWith(status.INTERNAL, "Received a message with an invalid compression flag");
      }
    }
  }

  private onTrailers(headers: WireHeaders): void {
    if (this.ended || this.pendingStatus) return;
    const code = parseGrpcStatus(headers["grpc-status"]);
    const raw = headers["grpc-message"];
    const details = typeof raw === "string" ? decodeGrpcMessage(raw) : "";
    this.pendingStatus = { code, details, metadata: metadataFromHeaders(headers) };
    if (code === status.OK && !this.deframer.idle) {
      this.pendingStatus = {
        code: status.INTERNAL,
        details: "Stream ended in the middle of a message",
        metadata: new Metadata(),
      };
    }
    this.maybeFinish();
  }

  /** @internal All DATA was emitted. */
  onEnd(): void {
    this.readEnded = true;
    this.maybeFinish();
  }

  /** @internal The stream closed: decide a status if the peer sent none. */
  onClose(rstCode: number | undefined, lost: Error | undefined): void {
    if (this.ended) return;
    this.readEnded = true;
    if (!this.pendingStatus) this.pendingStatus = this.closedWithoutStatus(rstCode, lost);
    this.maybeFinish();
  }

  private closedWithoutStatus(rstCode: number | undefined, lost: Error | undefined): StatusObject {
    const metadata = new Metadata();
    if (this.httpStatus !== 0 && this.httpStatus !== 200) {
      return {
        code: httpStatusToGrpc(this.httpStatus),
        details: `Received HTTP status code ${this.httpStatus}`,
        metadata,
      };
    }
    // A limit of this side's connection ended the stream alone: the error says which and what to do.
    if (
      lost instanceof TransportError &&
      (lost.code === "TRANSPORT_H2_PAUSED_LIMIT" || lost.code === "TRANSPORT_H2_SEND_QUEUE_FULL")
    )
      return { code: status.RESOURCE_EXHAUSTED, details: `${lost.message} (${lost.code})`, metadata };
    const why = lost ? `: ${lost.message}` : "";
    if (lost || !this.gotHeaders) {
      return { code: status.UNAVAILABLE, details: `Connection to ${this.host.peer} dropped${why}`, metadata };
    }
    const rst = rstCode ?? h2.NGHTTP2_INTERNAL_ERROR;
    return { code: rstCodeToGrpc(rst), details: `Stream closed with RST_STREAM code ${rst}`, metadata };
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
    if (!this.paused && this.stream) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private failWith(code: status, details: string): void {
    this.cancelWithStatus(code, details);
  }

  private maybeFinish(): void {
    const st = this.pendingStatus;
    if (!st || this.ended) return;
    // Messages that arrived before the status are handed over first, whatever the status.
    if (this.queue !== undefined && this.queue.length > 0) return;
    if (st.code === status.OK && !this.readEnded) return;
    this.finish(st);
  }

  private finish(st: StatusObject): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.stream;
    if (s) {
      this.host.callEnded();
      // Let the engine drain and free the stream; reset it if our side is still open.
      if (this.paused) s.resume();
      s.release();
    }
    this.queue = undefined;
    // Always on the next tick, as grpc-js: callers may be mid-call (makeUnaryRequest has not returned),
    // and an unhandled 'error' thrown up there must not unwind through node:http2's handlers.
    if (this.listener) process.nextTick(deliverStatus, this.listener, st);
  }
}
