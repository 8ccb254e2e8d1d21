/**
 * podplug's HTTP/2 engine: one HTTP/2 connection (RFC 9113), client or server side,
 * written for gRPC calls over a Unix or TLS socket. node:http2 spends most of a call's CPU in
 * per-stream objects (a Duplex per stream, header object conversions, async
 * resource binding); here a stream is a small record, a call's header block
 * is mostly cached bytes, and every frame written in one tick leaves in one
 * socket write.
 *
 * Covered: SETTINGS (both ways, with ACK), PING, GOAWAY, RST_STREAM,
 * WINDOW_UPDATE and flow control both ways, HEADERS with CONTINUATION and
 * padding, DATA with padding, MAX_CONCURRENT_STREAMS, peer frame sizes. Not
 * covered (not needed for gRPC): server push (disabled in our SETTINGS),
 * priorities (ignored), HTTP/1.1 upgrade.
 */
import type { Duplex } from "node:stream";
import { TransportError, type TransportErrorCode } from "../errors.ts";
import { BUDGET_RESERVE, type ServerBudgets } from "./byte-budget.ts";
import { type HeaderMap, HpackDecoder, HpackError } from "./hpack.ts";
import { type H2Limits, h2Limits } from "./limits.ts";
import { requestProblem, trailerProblem } from "./validate.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** The static HPACK entries `:scheme: http` and `:scheme: https`, one byte each. */
const SCHEME_HTTP = Buffer.from([0x86]);
const SCHEME_HTTPS = Buffer.from([0x87]);

/** Frame types. */
const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

/** HTTP/2 error codes used here. */
export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  STREAM_CLOSED: 5,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** How long a connection that failed stays half-open for its GOAWAY to be read (Go's http2: 1 s). */
const GOAWAY_LINGER_MS = 1000;

/** How many reset stream ids a connection remembers to ignore the peer's frames in flight on them. */
const RECENT_RESETS = 128;

/** The largest frame we accept: we never advertise a SETTINGS_MAX_FRAME_SIZE above the RFC's default. */
const OUR_MAX_FRAME = 16_384;

/** A connection error the peer caused: the GOAWAY code to send, and a coded error for the session's owner. */
function peerError(code: TransportErrorCode, h2Code: number, message: string, cause?: unknown): TransportError {
  return new TransportError(code, message, { h2Code }, cause === undefined ? undefined : { cause });
}

/** Our receive windows: per stream, and for the connection. */
const STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 16 << 20;
const DEFAULT_WINDOW = 65_535;
/** Write callbacks wait while the socket holds more than this unwritten (see H2Connection.framed). */
const SEND_HIGH_WATER = 1 << 20;
/** A batch this big goes out as one writev (payloads uncopied) instead of one joined buffer; pieces this big stay apart. */
const BIG_WRITE = 64 * 1024;
const BIG_PIECE = 8 * 1024;
const MAX_WINDOW = 0x7fff_ffff;

/** What a stream reports to its owner (a call). Called synchronously from socket reads. */
export interface StreamSink {
  /** A HEADERS block: the response headers, or (with `endStream`) trailers or a Trailers-Only response. */
  onHeaders(headers: HeaderMap, endStream: boolean): void;
  onData(chunk: Buffer): void;
  /** The peer ended its side (after the last DATA or trailers). */
  onEnd(): void;
  /** The stream is gone: `rstCode` when reset by the peer; `lost` when the connection failed or refused it. */
  onClose(rstCode: number | undefined, lost: Error | undefined): void;
}

type WriteCallback = (err?: Error | null) => void;

/** The sink of a stream before its owner takes it. */
const NO_SINK: StreamSink = { onHeaders() {}, onData() {}, onEnd() {}, onClose() {} };

/** One stream of an {@link H2ClientSession}. */
export class H2Stream {
  id = 0;
  /** Set at creation (client) or by the server's onStream handler. */
  sink: StreamSink;
  /** Our send window for this stream. */
  sendWindow: number;
  /** Received bytes not yet returned to the peer with WINDOW_UPDATE. */
  unacked = 0;
  /** What the peer may still send on this stream before we return window (our receive window). */
  recvWindow = STREAM_WINDOW;
  /** The connection's INITIAL_WINDOW_SIZE shift already applied to sendWindow (see H2Connection.windowShift). */
  shiftAt = 0;
  /** Server: DATA bytes still due under the request's content-length, if it sent one (-1: none). */
  contentLeft = -1;
  paused = false;
  /** Server: bytes of messages the handler holds unread (see holdRead). */
  heldRead = 0;
  /**
   * What this stream counts in the connection's paused bytes: the larger of
   * its unacked bytes while paused (what the peer sent since window stopped
   * coming back) and the messages the handler holds unread (they may have
   * been acked: a handler's stream takes 16 before it pauses).
   */
  charged = 0;
  localEnded = false;
  remoteEnded = false;
  closed = false;
  /** Data waiting for send window, and callbacks to run once each piece is framed. */
  pending: Buffer[] | undefined;
  /** Bytes in `pending` (they count against the connection's maxSendQueueBytes). */
  pendingBytes = 0;
  pendingCbs: (WriteCallback | undefined)[] | undefined;
  endQueued = false;
  /** The header block, kept while the stream waits for a slot under MAX_CONCURRENT_STREAMS. */
  block: Buffer | undefined;
  /** Server: the trailers to end with, after the data. */
  trailers: Buffer | undefined;
  /** The header of this stream's last DATA frame, while it waits in the connection's unsent batch `lastDataBatch`. */
  lastData: Buffer | undefined;
  lastDataBatch = 0;
  private readonly session: H2Connection;

  constructor(session: H2Connection, sink: StreamSink, sendWindow: number) {
    this.session = session;
    this.sink = sink;
    this.sendWindow = sendWindow;
  }

  /** Queues one message's bytes; `cb` runs once they are framed for the socket. */
  write(buf: Buffer, cb?: WriteCallback): void {
    if (this.closed || this.endQueued) {
      if (cb) process.nextTick(cb, new Error("write after the stream ended"));
      return;
    }
    if (!this.session.mayQueue(buf.length)) {
      this.session.sendQueueFull(this, buf.length, cb);
      return;
    }
    // The common case (nothing queued, window enough): framed at once, no queue arrays.
    if (this.pending === undefined || this.pending.length === 0) {
      if (this.session.sendData(this, buf)) {
        this.session.framed(cb);
        return;
      }
    }
    (this.pending ??= []).push(buf);
    (this.pendingCbs ??= []).push(cb);
    this.pendingBytes += buf.length;
    this.session.pendingBytes += buf.length;
    this.session.flushStream(this);
  }

  /** Ends our side (END_STREAM after any queued data; server: with `trailers`, a header block). */
  end(trailers?: Buffer): void {
    if (this.closed || this.endQueued) return;
    this.endQueued = true;
    this.trailers = trailers;
    this.session.flushStream(this);
  }

  /** Server: sends response headers; with `endStream` they are a Trailers-Only response. */
  respond(block: Buffer, endStream: boolean): void {
    if (this.closed || this.endQueued) return;
    this.session.sendHeaders(this, block, endStream);
  }

  /** Resets the stream (RST_STREAM) unless it is already closed. */
  reset(code: number): void {
    if (this.closed) return;
    this.session.resetStream(this, code);
  }

  /** RST_STREAM CANCEL (a call's cancel). */
  cancel(): void {
    this.reset(H2_ERROR.CANCEL);
  }

  /** The call is over: reset only if our side is still open. */
  release(): void {
    if (!this.closed && !(this.localEnded && this.remoteEnded)) this.reset(H2_ERROR.CANCEL);
  }

  /** Stops returning window to the peer (it stops sending once the window is used up). */
  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.recharge();
  }

  /** @internal Brings `charged` to what the stream holds now (see {@link charged}). */
  recharge(): void {
    const want = this.closed ? 0 : Math.max(this.paused ? this.unacked : 0, this.heldRead);
    if (want !== this.charged) this.session.held(want - this.charged);
    this.charged = want;
  }

  /**
   * The application holds `n` more bytes of this stream's messages unread
   * (negative: it read them): they count as paused bytes, so a handler that
   * never reads cannot make the connection take more than maxPausedBytes
   * (nor the server more than its budget); past either, the stream is reset.
   */
  holdRead(n: number): void {
    // A closed stream gave its held bytes back when it closed.
    if (this.closed || n === 0) return;
    this.heldRead = Math.max(0, this.heldRead + n);
    this.recharge();
    if (n > 0) this.session.checkPaused(this);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // A closed stream gave its bytes back when it closed (or its connection did).
    if (this.closed) return;
    this.session.ackStream(this, true);
    this.recharge();
  }
}

/** Options of a connection. */
export interface SessionOptions {
  /** Which end this is. */
  role: "client" | "server";
  /** Client: `http` or `https`. */
  scheme?: string;
  /** What the peer may send; defaults in DEFAULT_H2_LIMITS. */
  limits?: Partial<H2Limits>;
  /** The peer broke HTTP/2 or one of our limits: the connection is closing with GOAWAY (for logs). */
  onPeerError?(err: TransportError): void;
  /** Server: the budgets shared by all the server's connections (paused bytes, bytes to send), charged beside this connection's own. */
  budgets?: ServerBudgets | undefined;
  /** Server: a new stream; returns the sink for its request side. */
  onStream?(stream: H2Stream, headers: HeaderMap, endStream: boolean): StreamSink;
  /** Called once the peer's SETTINGS arrived (the connection speaks HTTP/2). */
  onReady(): void;
  /** Called once when the session can take no more streams (GOAWAY, socket gone). */
  onDraining(): void;
  /** Called once when the session is over; `err` when it failed. */
  onClosed(err: Error | undefined): void;
}

/** An HTTP/2 connection, either end. */
export class H2Connection {
  readonly opts: SessionOptions;
  private readonly socket: Duplex;
  private readonly limits: H2Limits;
  private readonly budgets: ServerBudgets | undefined;
  /** What this connection has charged to the server's send budget (refreshed from its own count, see chargeSend). */
  private sendCharged = 0;
  /** The socket closed: nothing it held is charged any more. */
  private socketGone = false;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2Stream>();
  private nextId = 1;
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Counts writes: a frame still in `out` belongs to the current batch. */
  private batch = 0;
  private flushScheduled = false;
  /** The start of a frame that straddles socket reads, its length so far, and its whole length (0: header incomplete). */
  private inParts: Buffer[] | undefined;
  private inBytes = 0;
  private inNeed = 0;
  /** A header block spread over CONTINUATION frames. */
  private headerParts: Buffer[] | undefined;
  private headerStream = 0;
  private headerEndStream = false;
  /** Bytes of the header block being received, bounded by maxHeaderListSize. */
  private headerBytes = 0;
  /** What the peer may still send on the connection before we return window. */
  private connRecvWindow = CONN_WINDOW;
  /**
   * Sum of the peer's INITIAL_WINDOW_SIZE changes: a stream applies the part it
   * has not seen when it next sends, so a SETTINGS frame costs O(1), not a walk of every stream.
   */
  private windowShift = 0;
  /** Control answers queued since the socket last had nothing buffered. */
  private ctrlQueued = 0;
  /** Streams we reset lately (insertion order, at most RECENT_RESETS). */
  private readonly recentResets = new Set<number>();
  /** Bytes received on paused streams and not returned to the peer (bounded by maxPausedBytes). */
  private pausedBytes = 0;
  /** Empty frames and refused streams so far. */
  private invalidFrames = 0;
  /** The rapid-reset bucket: tokens left, and when it was last refilled. */
  private resetTokens: number;
  private resetAt = 0;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private peerMaxStreams = Infinity;
  /** Streams waiting for a free slot under the peer's MAX_CONCURRENT_STREAMS. */
  private waiting: H2Stream[] = [];
  /** Bytes of all streams' `pending` data (waiting for send window). */
  pendingBytes = 0;
  /** Write callbacks held until the socket drains below SEND_HIGH_WATER (backpressure on the writers). */
  private drainCbs: WriteCallback[] | undefined;
  /** Streams with data but no send window. */
  private blocked = new Set<H2Stream>();
  /** A pending HPACK dynamic table size update for our next header block (the peer lowered its table). */
  private tableSizeUpdate: number | undefined;
  /** Server: the client preface is still to be read. */
  private prefaceLeft: number;
  /** Server: the highest stream id the client opened. */
  private lastPeerStream = 0;
  ready = false;
  draining = false;
  closed = false;
  /** performance.now() of the last bytes read (keepalive's measure of silence). */
  lastReadAt = performance.now();
  /** HEADERS or DATA arrived since keepalive last looked. */
  private peerData = false;
  private closeError: Error | undefined;

  constructor(socket: Duplex, opts: SessionOptions) {
    this.socket = socket;
    this.opts = opts;
    this.limits = h2Limits(opts.limits);
    this.budgets = opts.budgets;
    this.resetTokens = this.limits.resetBurst;
    // Preface, our SETTINGS (no push, our stream window, our limits), and a bigger connection window.
    const pairs: [number, number][] = [
      [0x2, 0], // ENABLE_PUSH
      [0x4, STREAM_WINDOW], // INITIAL_WINDOW_SIZE
      [0x6, this.limits.maxHeaderListSize], // MAX_HEADER_LIST_SIZE
    ];
    if (opts.role === "server") pairs.push([0x3, this.limits.maxConcurrentStreams]); // MAX_CONCURRENT_STREAMS
    const settings = Buffer.alloc(6 * pairs.length);
    pairs.forEach(([k, v], i) => {
      settings.writeUInt16BE(k, 6 * i);
      settings.writeUInt32BE(v, 6 * i + 2);
    });
    const wu = Buffer.alloc(4);
    wu.writeUInt32BE(CONN_WINDOW - DEFAULT_WINDOW, 0);
    const frames = [
      frameHeader(settings.length, T.SETTINGS, 0, 0),
      settings,
      frameHeader(4, T.WINDOW_UPDATE, 0, 0),
      wu,
    ];
    if (opts.role === "client") frames.unshift(PREFACE);
    this.prefaceLeft = opts.role === "server" ? PREFACE.length : 0;
    this.queue(...frames);
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("drain", () => this.releaseDrainCbs());
    socket.on("error", (err: Error) => this.destroy(err));
    socket.on("close", () => {
      // A connection that ended while its socket still held unwritten bytes gives back its charge only now.
      this.socketGone = true;
      this.releaseBudgets();
      this.destroy(this.closeError ?? new Error("connection closed"));
    });
  }

  /** Streams open or waiting. */
  get activeStreams(): number {
    return this.streams.size + this.waiting.length;
  }

  /** Keeps the process alive (or not) while this session is open. */
  ref(): void {
    (this.socket as Duplex & { ref?: () => void }).ref?.();
  }

  unref(): void {
    (this.socket as Duplex & { unref?: () => void }).unref?.();
  }

  /**
   * Opens a stream with an encoded header block (from encodeHeaders, without
   * :scheme, which is added here). Throws when the session takes no more streams.
   */
  request(block: Buffer, sink: StreamSink): H2Stream {
    if (this.closed || this.draining) throw new Error("HTTP/2 session is closing; open a new one");
    const s = new H2Stream(this, sink, this.peerInitialWindow);
    s.shiftAt = this.windowShift;
    if (this.streams.size >= this.peerMaxStreams) {
      s.block = block;
      this.waiting.push(s);
    } else {
      this.start(s, block);
    }
    return s;
  }

  /** True when HEADERS or DATA arrived since the last call (keepalive: the peer did work since its last PING). */
  takePeerData(): boolean {
    const d = this.peerData;
    this.peerData = false;
    return d;
  }

  /** Sends a PING (keepalive); its ACK is read like any frame. */
  ping(): void {
    this.push(frameHeader(8, T.PING, 0, 0));
    this.push(Buffer.alloc(8));
  }

  /** Sends GOAWAY and closes once streams are done (now, when there are none). */
  close(): void {
    if (this.closed) return;
    if (!this.draining) {
      this.draining = true;
      const p = Buffer.alloc(8);
      p.writeUInt32BE(this.lastPeerStream, 0);
      p.writeUInt32BE(H2_ERROR.NO_ERROR, 4);
      this.queue(frameHeader(8, T.GOAWAY, 0, 0), p);
      this.opts.onDraining();
    }
    if (this.activeStreams === 0) this.endSocket();
  }

  /**
   * Ends the connection at once; every open stream fails with `err`. With
   * `linger`, the socket is half-closed instead (what was queued, a GOAWAY,
   * still goes out and nothing more is read) and destroyed a moment later, as
   * Go's http2 does after a connection error, so the peer can read why.
   */
  destroy(err: Error, linger = false): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    if (!this.draining) {
      this.draining = true;
      this.opts.onDraining();
    }
    this.closeError ??= err;
    this.pendingBytes = 0; // the streams' queues go with them
    this.releaseBudgets();
    const all = [...this.streams.values(), ...this.waiting];
    this.streams.clear();
    this.waiting = [];
    this.blocked.clear();
    for (const s of all) {
      if (s.closed) continue;
      s.closed = true;
      s.sink.onClose(undefined, err);
    }
    if (linger) {
      this.socket.pause();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), GOAWAY_LINGER_MS).unref();
    } else {
      this.socket.destroy();
    }
    this.opts.onClosed(err);
  }

  private endSocket(): void {
    this.flush();
    this.closed = true;
    this.socket.end();
    // What the socket still holds stays charged until it is written or the socket closes.
    if (this.socket.writableLength === 0) this.releaseBudgets();
    else if (this.budgets !== undefined) this.chargeSend(0);
    this.opts.onClosed(undefined);
  }

  private start(s: H2Stream, block: Buffer): void {
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_WINDOW) this.close(); // stream ids ran out: this session takes no more
    s.id = id;
    this.streams.set(id, s);
    const scheme = this.opts.scheme === "https" ? SCHEME_HTTPS : SCHEME_HTTP;
    if (this.tableSizeUpdate === undefined && block.length + 1 <= this.peerMaxFrame) {
      // The common case: no copy, the frame header, `:scheme` and the cached block go out as they are.
      this.push(frameHeader(block.length + 1, T.HEADERS, END_HEADERS, id));
      this.push(scheme);
      this.push(block);
    } else {
      const prefix = this.tableSizeUpdate === undefined ? [] : encodeSizeUpdate(this.tableSizeUpdate);
      this.tableSizeUpdate = undefined;
      this.queueHeaders(id, Buffer.concat([Buffer.from(prefix), scheme, block]), 0);
    }
    this.flushStream(s);
  }

  /** @internal Server: response headers (Trailers-Only with `endStream`). */
  sendHeaders(s: H2Stream, block: Buffer, endStream: boolean): void {
    this.queueHeaders(s.id, block, endStream ? END_STREAM : 0);
    if (endStream) {
      s.endQueued = true;
      this.localEnd(s);
    }
  }

  /** A header block as HEADERS (+ CONTINUATION when it exceeds the peer's frame size). */
  private queueHeaders(id: number, block: Buffer, flags: number): void {
    if (block.length <= this.peerMaxFrame) {
      this.push(frameHeader(block.length, T.HEADERS, flags | END_HEADERS, id));
      this.push(block);
      return;
    }
    for (let off = 0; off < block.length; off += this.peerMaxFrame) {
      const n = Math.min(this.peerMaxFrame, block.length - off);
      const last = off + n === block.length;
      const type = off === 0 ? T.HEADERS : T.CONTINUATION;
      this.queue(
        frameHeader(n, type, (off === 0 ? flags : 0) | (last ? END_HEADERS : 0), id),
        block.subarray(off, off + n),
      );
    }
  }

  /** @internal Frames what a stream may send now. */
  flushStream(s: H2Stream): void {
    if (s.id === 0 || s.closed) return; // still waiting for a stream slot
    if (s.shiftAt !== this.windowShift) this.applyShift(s);
    const q = s.pending;
    const cbs = s.pendingCbs;
    while (q && q.length > 0) {
      const buf = q[0]!;
      const n = Math.min(buf.length, s.sendWindow, this.connSendWindow, this.peerMaxFrame);
      if (n <= 0 && buf.length > 0) {
        this.blocked.add(s);
        return;
      }
      const lastOfAll = n === buf.length && q.length === 1 && s.endQueued && !s.trailers;
      this.dataFrame(s, n === buf.length ? buf : buf.subarray(0, n), lastOfAll);
      s.pendingBytes -= n;
      this.pendingBytes -= n;
      if (n === buf.length) {
        q.shift();
        this.framed(cbs!.shift());
        if (lastOfAll) {
          this.localEnd(s);
          return;
        }
      } else {
        q[0] = buf.subarray(n);
      }
    }
    if (s.endQueued && !s.localEnded) {
      if (s.trailers) this.queueHeaders(s.id, s.trailers, END_STREAM);
      else if (s.lastData !== undefined && s.lastDataBatch === this.batch) {
        // The last DATA frame is still unsent: it carries END_STREAM itself (one frame less per unary call, as grpc-go sends it).
        s.lastData[4] = s.lastData[4]! | END_STREAM;
      } else this.push(frameHeader(0, T.DATA, END_STREAM, s.id));
      s.lastData = undefined;
      this.localEnd(s);
    }
  }

  /** @internal Frames `buf` as one DATA frame now if the windows and frame size allow; false leaves it to the caller to queue. */
  sendData(s: H2Stream, buf: Buffer): boolean {
    if (s.id === 0 || s.closed) return false;
    // This fast path bypasses flushStream: it applies the pending INITIAL_WINDOW_SIZE shift itself.
    if (s.shiftAt !== this.windowShift) this.applyShift(s);
    if (s.closed) return false;
    const n = buf.length;
    if (n > s.sendWindow || n > this.connSendWindow || n > this.peerMaxFrame) return false;
    this.dataFrame(s, buf, false);
    return true;
  }

  private dataFrame(s: H2Stream, data: Buffer, endStream: boolean): void {
    const h = frameHeader(data.length, T.DATA, endStream ? END_STREAM : 0, s.id);
    this.push(h);
    if (data.length > 0) this.push(data);
    s.lastData = endStream ? undefined : h;
    s.lastDataBatch = this.batch;
    s.sendWindow -= data.length;
    this.connSendWindow -= data.length;
  }

  /** Applies the INITIAL_WINDOW_SIZE changes `s` has not seen yet (RFC 9113 §6.9.2). */
  private applyShift(s: H2Stream): void {
    s.sendWindow += this.windowShift - s.shiftAt;
    s.shiftAt = this.windowShift;
    if (s.sendWindow > MAX_WINDOW) this.resetStream(s, H2_ERROR.FLOW_CONTROL_ERROR);
  }

  /** @internal */
  resetStream(s: H2Stream, code: number): void {
    if (s.id !== 0) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(code, 0);
      this.queue(frameHeader(4, T.RST_STREAM, 0, s.id), p);
      // NO_ERROR only asks a client to stop sending a call that is over; what it still sends gets STREAM_CLOSED.
      if (code !== H2_ERROR.NO_ERROR) this.noteReset(s.id);
    }
    this.finishStream(s, undefined, undefined);
  }

  /**
   * @internal May `n` more bytes be queued to send? What waits for the peer
   * (its windows, or the socket's buffer while it reads nothing) stays under
   * maxSendQueueBytes; one write into an empty queue always goes, so a single
   * message larger than the bound still can.
   */
  mayQueue(n: number): boolean {
    const queued = this.outBytes + this.socket.writableLength + this.pendingBytes;
    if (queued !== 0 && queued + n > this.limits.maxSendQueueBytes) return false;
    const b = this.budgets?.sendQueue;
    if (b === undefined) return true;
    this.chargeSend(n);
    // The server's budget: past it, only a connection holding less than its reserve may still queue.
    if (queued === 0 || queued + n <= BUDGET_RESERVE || !b.over) return true;
    this.chargeSend(0);
    return false;
  }

  /**
   * Brings this connection's charge to the server's send budget to what it
   * holds now plus `extra` (bytes about to be queued). Called when the count
   * moves (a write queued, a flush, a socket write completed, a stream
   * dropping its queue), so the charge never falls short of what is held and
   * is exact once writes complete; on close it is given back whole.
   */
  private chargeSend(extra: number): void {
    const now = this.outBytes + this.socket.writableLength + this.pendingBytes + extra;
    this.budgets!.sendQueue.charge(now - this.sendCharged);
    this.sendCharged = now;
  }

  /** The connection is over: everything it charged to the server's budgets goes back. */
  private releaseBudgets(): void {
    const b = this.budgets;
    if (b === undefined) return;
    b.paused.charge(-this.pausedBytes);
    this.pausedBytes = 0;
    b.sendQueue.charge(-this.sendCharged);
    this.sendCharged = 0;
  }

  /** @internal A write that would take the queue past maxSendQueueBytes: the stream is reset, its call fails with the coded error. */
  sendQueueFull(s: H2Stream, n: number, cb: WriteCallback | undefined): void {
    const queued = this.outBytes + this.socket.writableLength + this.pendingBytes;
    const b = this.budgets?.sendQueue;
    const mine = queued + n > this.limits.maxSendQueueBytes || b === undefined;
    const bound = mine
      ? `maxSendQueueBytes (${this.limits.maxSendQueueBytes})`
      : `the server's budget for all its connections (podplug.serverBudget maxSendQueueBytes ${b.limit}; ${b.used} bytes held)`;
    const err = new TransportError(
      "TRANSPORT_H2_SEND_QUEUE_FULL",
      `stream ${s.id} reset: ${queued} bytes already wait for the peer to read or grant window, and ${n} more would pass ${bound}; the peer is not reading, or writers ignore backpressure (wait for write callbacks)`,
      { h2Code: H2_ERROR.ENHANCE_YOUR_CALM, stream: s.id, queued, scope: mine ? "connection" : "server" },
    );
    if (cb) process.nextTick(cb, err);
    if (s.id !== 0) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(H2_ERROR.ENHANCE_YOUR_CALM, 0);
      this.push(frameHeader(4, T.RST_STREAM, 0, s.id));
      this.push(p);
      this.noteReset(s.id);
    }
    this.finishStream(s, H2_ERROR.ENHANCE_YOUR_CALM, err);
  }

  /**
   * @internal A write was framed: its callback runs now, or once the socket
   * has drained if it already holds more than SEND_HIGH_WATER (a writer that
   * waits for its callbacks then cannot outrun a peer that reads slowly).
   */
  framed(cb: WriteCallback | undefined): void {
    if (cb === undefined) return;
    if (this.socket.writableLength + this.outBytes <= SEND_HIGH_WATER) process.nextTick(cb);
    else (this.drainCbs ??= []).push(cb);
  }

  private releaseDrainCbs(): void {
    const cbs = this.drainCbs;
    if (cbs === undefined || this.socket.writableLength > SEND_HIGH_WATER) return;
    this.drainCbs = undefined;
    for (const cb of cbs) process.nextTick(cb);
  }

  /** @internal A paused stream took (or, resumed, gave back) `n` bytes of the connection's paused budget. */
  held(n: number): void {
    this.pausedBytes += n;
    this.budgets?.paused.charge(n);
  }

  private pausedOver(): boolean {
    return (
      this.pausedBytes > this.limits.maxPausedBytes ||
      (this.budgets?.paused.over === true && this.pausedBytes > BUDGET_RESERVE)
    );
  }

  /** @internal A stream's held bytes grew: past the bounds, it is reset as a paused stream would be. */
  checkPaused(s: H2Stream): void {
    if (!s.closed && this.pausedOver()) this.overPaused(s);
  }

  /**
   * The connection's paused streams hold more than maxPausedBytes: the stream
   * that took it over is reset (ENHANCE_YOUR_CALM) and its call fails with a
   * coded error; the other streams, and the connection window, go on.
   */
  private overPaused(s: H2Stream): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(H2_ERROR.ENHANCE_YOUR_CALM, 0);
    this.queue(frameHeader(4, T.RST_STREAM, 0, s.id), p);
    this.noteReset(s.id);
    const mine = this.pausedBytes > this.limits.maxPausedBytes;
    const what = mine
      ? `the connection's paused streams hold more than ${this.limits.maxPausedBytes} bytes the application has not read (maxPausedBytes)`
      : `the paused streams of all the server's connections hold more than ${this.budgets!.paused.limit} bytes the application has not read (podplug.serverBudget maxPausedBytes)`;
    const err = new TransportError(
      "TRANSPORT_H2_PAUSED_LIMIT",
      `stream ${s.id} reset: ${what}; read calls' messages sooner or raise the limit`,
      { h2Code: H2_ERROR.ENHANCE_YOUR_CALM, stream: s.id, scope: mine ? "connection" : "server" },
    );
    this.finishStream(s, H2_ERROR.ENHANCE_YOUR_CALM, err);
  }

  /** Remembers the last streams we reset: frames the peer had in flight on them are ignored (RFC 9113 §5.1). */
  private noteReset(id: number): void {
    if (this.recentResets.size >= RECENT_RESETS) this.recentResets.delete(this.recentResets.values().next().value!);
    this.recentResets.add(id);
  }

  /** @internal Returns received bytes to the peer's window for this stream. */
  ackStream(s: H2Stream, force: boolean): void {
    if (s.paused || s.closed || s.unacked === 0) return;
    if (!force && s.unacked < STREAM_WINDOW / 2) return;
    this.windowUpdate(s.id, s.unacked);
    s.recvWindow += s.unacked;
    s.unacked = 0;
  }

  private localEnd(s: H2Stream): void {
    s.localEnded = true;
    this.blocked.delete(s);
    if (s.remoteEnded) this.finishStream(s, undefined, undefined);
  }

  private finishStream(s: H2Stream, rstCode: number | undefined, lost: Error | undefined): void {
    if (s.closed) return;
    s.closed = true;
    s.heldRead = 0;
    s.recharge();
    const dropped = s.pendingBytes;
    this.pendingBytes -= dropped;
    s.pendingBytes = 0;
    if (dropped > 0 && this.budgets !== undefined && !this.closed) this.chargeSend(0);
    s.pending = undefined;
    s.pendingCbs = undefined;
    this.blocked.delete(s);
    if (s.id !== 0) this.streams.delete(s.id);
    else this.waiting = this.waiting.filter((w) => w !== s);
    s.sink.onClose(rstCode, lost);
    // A slot came free: start a waiting stream.
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams && !this.closed) {
      const w = this.waiting.shift()!;
      const block = w.block!;
      w.block = undefined;
      this.start(w, block);
    }
    if (this.draining && !this.closed && this.activeStreams === 0) this.endSocket();
  }

  private windowUpdate(id: number, inc: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(inc, 0);
    this.queue(frameHeader(4, T.WINDOW_UPDATE, 0, id), p);
  }

  private queue(...bufs: Buffer[]): void {
    for (const b of bufs) this.push(b);
  }

  /** Adds one buffer to the batch leaving in this tick's write. */
  private push(b: Buffer): void {
    if (this.closed) return; // the socket is ending or gone: nothing more goes out
    this.out.push(b);
    this.outBytes += b.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything framed in this tick leaves in one write.
      process.nextTick(this.flushNow);
    }
  }

  private readonly flushNow = (): void => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    this.batch++;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 0 || this.socket.destroyed) return;
    // With a server's send budget, each write's completion brings the charge down to what is still unwritten.
    const done = this.budgets === undefined ? undefined : this.onWritten;
    if (out.length === 1) {
      this.socket.write(out[0]!, done);
    } else if (bytes < BIG_WRITE) {
      this.socket.write(Buffer.concat(out, bytes), done);
    } else {
      this.writeBig(out, done);
    }
    if (done !== undefined && !this.closed) this.chargeSend(0);
    // A write that completed at once emits no 'drain': release what waited here.
    if (this.drainCbs !== undefined) this.releaseDrainCbs();
  }

  private writeBig(out: Buffer[], done: WriteCallback | undefined): void {
    // Large messages: one writev of the big pieces as they are, small runs between them joined (no copy of the payloads).
    this.socket.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    for (let i = 0; i < out.length; i++) {
      const b = out[i]!;
      if (b.length < BIG_PIECE) {
        run.push(b);
        runBytes += b.length;
        continue;
      }
      if (run.length > 0) this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
      this.socket.write(b, i === out.length - 1 ? done : undefined);
    }
    if (run.length > 0) this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes), done);
    this.socket.uncork();
  }

  /** A write completed: the send budget's charge follows what the socket still holds (until the socket is gone). */
  private readonly onWritten = (): void => {
    if (!this.socketGone) this.chargeSend(0);
  };

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastReadAt = performance.now();
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, chunk.length);
      const at = PREFACE.length - this.prefaceLeft;
      if (!chunk.subarray(0, n).equals(PREFACE.subarray(at, at + n))) {
        this.destroy(
          new TransportError("TRANSPORT_H2_PROTOCOL", "the peer did not send the HTTP/2 client preface", {
            h2Code: H2_ERROR.PROTOCOL_ERROR,
          }),
        );
        return;
      }
      this.prefaceLeft -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    try {
      if (this.inParts) {
        // A frame straddles reads: copy just its bytes out of this chunk, not the whole chunk (64 KiB messages
        // arrive as 16 KiB frames in 64 KiB reads, so nearly every read ended mid-frame and was copied again).
        const rest = this.completeFrame(chunk);
        if (rest === undefined || this.closed) return;
        chunk = rest;
      }
      const off = this.readFrames(chunk);
      if (off < 0) return;
      if (off < chunk.length) this.keepPartial(chunk.subarray(off));
    } catch (err) {
      this.fail(asPeerError(err));
      return;
    }
    // Batch window updates per read, not per frame.
    if (this.connUnacked >= CONN_WINDOW / 2) {
      this.windowUpdate(0, this.connUnacked);
      this.connRecvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
  }

  /** Handles the whole frames at the start of `buf`; returns where the first partial one starts, or -1 once closed. */
  private readFrames(buf: Buffer): number {
    let off = 0;
    while (buf.length - off >= 9) {
      const len = frameLength(buf, off);
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const id = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
      const payload = buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      if (type <= T.HEADERS) this.peerData = true;
      this.onFrame(type, flags, id, payload);
      if (this.closed) return -1;
    }
    return off;
  }

  /** Holds the start of a frame until the rest arrives (its size checked once its header is here). */
  private keepPartial(part: Buffer): void {
    this.inParts = [part];
    this.inBytes = part.length;
    this.inNeed = part.length >= 9 ? 9 + frameLength(part, 0) : 0;
  }

  /**
   * Adds `chunk` to the held partial frame; once whole, handles that one frame.
   * Returns the rest of `chunk`, or undefined while the frame is still incomplete.
   */
  private completeFrame(chunk: Buffer): Buffer | undefined {
    const parts = this.inParts!;
    if (this.inNeed === 0) {
      // The header itself was split: join its pieces (at most 9 bytes are copied here).
      const n = Math.min(9 - this.inBytes, chunk.length);
      const head = Buffer.concat([...parts, chunk.subarray(0, n)]);
      chunk = chunk.subarray(n);
      if (head.length < 9) {
        this.inParts = [head];
        this.inBytes = head.length;
        return undefined;
      }
      this.keepPartial(head);
    }
    const held = this.inParts!;
    const take = Math.min(this.inNeed - this.inBytes, chunk.length);
    if (take > 0) {
      held.push(chunk.subarray(0, take));
      this.inBytes += take;
    }
    if (this.inBytes < this.inNeed) return undefined;
    const frame = held.length === 1 ? held[0]! : Buffer.concat(held, this.inBytes);
    this.inParts = undefined;
    this.inBytes = 0;
    this.inNeed = 0;
    if (this.readFrames(frame) < 0) return undefined;
    return chunk.subarray(take);
  }

  /** A connection error: GOAWAY with the error's HTTP/2 code, then close. */
  private fail(err: TransportError): void {
    const message = err.message;
    const p = Buffer.alloc(8 + Buffer.byteLength(message));
    p.writeUInt32BE(this.lastPeerStream, 0); // the last stream the peer opened that we processed
    p.writeUInt32BE(err.details.h2Code as number, 4);
    p.write(message, 8);
    this.queue(frameHeader(p.length, T.GOAWAY, 0, 0), p);
    this.flush();
    this.destroy(err, true);
    this.opts.onPeerError?.(err);
  }

  /**
   * Queues an answer to a peer's control frame. A peer that sends them but
   * reads nothing would grow our queue without end: past the limit it gets
   * GOAWAY ENHANCE_YOUR_CALM (Go's http2 and nghttp2 do the same).
   */
  private queueControl(...bufs: Buffer[]): void {
    if (this.socket.writableLength === 0) this.ctrlQueued = 0; // everything before went out
    if (++this.ctrlQueued > this.limits.maxQueuedControlFrames)
      throw peerError(
        "TRANSPORT_H2_FLOOD",
        H2_ERROR.ENHANCE_YOUR_CALM,
        `the peer left ${this.limits.maxQueuedControlFrames} control frame answers unread`,
      );
    this.queue(...bufs);
  }

  /** Counts a frame that carried nothing (or a stream refused); past the limit, ENHANCE_YOUR_CALM. */
  private invalidFrame(what: string): void {
    if (++this.invalidFrames > this.limits.maxInvalidFrames)
      throw peerError(
        "TRANSPORT_H2_FLOOD",
        H2_ERROR.ENHANCE_YOUR_CALM,
        `the peer sent more than ${this.limits.maxInvalidFrames} ${what}`,
      );
  }

  /** Takes one token of the rapid-reset bucket (nghttp2's scheme); none left: ENHANCE_YOUR_CALM. */
  private peerReset(): void {
    const now = performance.now();
    const { resetBurst, resetRate } = this.limits;
    this.resetTokens = Math.min(resetBurst, this.resetTokens + ((now - this.resetAt) / 1000) * resetRate);
    this.resetAt = now;
    if (this.resetTokens < 1)
      throw peerError(
        "TRANSPORT_H2_FLOOD",
        H2_ERROR.ENHANCE_YOUR_CALM,
        `the peer reset streams faster than ${resetRate}/s after a burst of ${resetBurst}`,
      );
    this.resetTokens -= 1;
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerParts && type !== T.CONTINUATION) throw protocolError("expected a CONTINUATION frame");
    switch (type) {
      case T.DATA:
        return this.onDataFrame(flags, id, payload);
      case T.HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case T.CONTINUATION: {
        if (!this.headerParts || id !== this.headerStream) throw protocolError("unexpected CONTINUATION frame");
        if (payload.length === 0 && !(flags & END_HEADERS)) this.invalidFrame("empty CONTINUATION frames");
        this.addHeaderPart(payload);
        if (flags & END_HEADERS) this.headerBlockDone();
        return;
      }
      case T.PRIORITY:
        if (id === 0) throw protocolError("PRIORITY on stream 0");
        if (payload.length !== 5)
          throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "PRIORITY of wrong size");
        if ((payload.readUInt32BE(0) & 0x7fff_ffff) === id) this.rejectStream(id, H2_ERROR.PROTOCOL_ERROR);
        return;
      case T.RST_STREAM: {
        if (id === 0) throw protocolError("RST_STREAM on stream 0");
        if (payload.length !== 4)
          throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "RST_STREAM of wrong size");
        if (this.isIdle(id)) throw protocolError(`RST_STREAM on idle stream ${id}`);
        const s = this.streams.get(id);
        if (s) {
          this.peerReset();
          this.finishStream(s, payload.readUInt32BE(0), undefined);
        }
        return;
      }
      case T.SETTINGS:
        if (id !== 0) throw protocolError("SETTINGS on a stream");
        return this.onSettings(flags, payload);
      case T.PING:
        if (id !== 0) throw protocolError("PING on a stream");
        if (payload.length !== 8)
          throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "PING of wrong size");
        if (!(flags & ACK)) this.queueControl(frameHeader(8, T.PING, ACK, 0), Buffer.from(payload));
        return;
      case T.GOAWAY:
        if (id !== 0) throw protocolError("GOAWAY on a stream");
        return this.onGoaway(payload);
      case T.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case T.PUSH_PROMISE:
        throw protocolError("PUSH_PROMISE received although push is disabled");
      default:
        return; // unknown frame types are ignored, as the RFC asks
    }
  }

  /** A stream id the peer could open but has not (RFC 9113 §5.1 "idle"). */
  private isIdle(id: number): boolean {
    if (this.opts.role === "server") return id % 2 === 1 && id > this.lastPeerStream;
    return id % 2 === 1 ? id >= this.nextId : true; // a client's peer opens no streams (push is off)
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw protocolError("DATA on stream 0");
    if (this.isIdle(id)) throw protocolError(`DATA on idle stream ${id}`);
    const len = payload.length;
    this.connUnacked += len;
    this.connRecvWindow -= len;
    if (this.connRecvWindow < 0)
      throw peerError(
        "TRANSPORT_H2_FLOW_CONTROL",
        H2_ERROR.FLOW_CONTROL_ERROR,
        "the peer sent more DATA than the connection's flow-control window allows",
      );
    if (len === 0 && !(flags & END_STREAM)) this.invalidFrame("empty DATA frames");
    const s = this.streams.get(id);
    let data = payload;
    if (flags & PADDED) {
      const pad = payload[0]!;
      if (pad >= payload.length) throw protocolError("DATA padding exceeds the frame");
      data = payload.subarray(1, payload.length - pad);
    }
    if (!s || s.remoteEnded) {
      // DATA after the peer ended the stream, or on one closed here: STREAM_CLOSED (RFC 9113 §5.1,
      // as Go's server answers). A client ignores a server's DATA in flight on a stream it cancelled.
      if (s && !s.closed) this.resetStream(s, H2_ERROR.STREAM_CLOSED);
      else if (!s && this.opts.role === "server" && !this.recentResets.has(id))
        this.rejectStream(id, H2_ERROR.STREAM_CLOSED);
      return;
    }
    if (s.contentLeft >= 0 && !this.contentCounts(s, data.length, (flags & END_STREAM) !== 0)) return;
    s.unacked += len;
    s.recvWindow -= len;
    // Counted with unacked, before any reset below gives the stream's unacked bytes back.
    if (s.paused) s.recharge();
    if (s.recvWindow < 0) {
      this.resetStream(s, H2_ERROR.FLOW_CONTROL_ERROR);
      return;
    }
    // Past its own bound, or past the server's (where it holds more than its reserve): this stream is reset.
    if (s.paused && this.pausedOver()) {
      this.overPaused(s);
      return;
    }
    const last = (flags & END_STREAM) !== 0;
    if (last) s.remoteEnded = true; // before the sink hears it: a call finishing now must see it
    if (data.length > 0) s.sink.onData(data);
    if (s.closed) return;
    if (last) this.remoteEnd(s);
    else this.ackStream(s, false);
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw protocolError("HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      if (payload.length < 1) throw protocolError("HEADERS too short for its padding");
      const pad = payload[0]!;
      start = 1;
      end -= pad;
    }
    if (flags & PRIORITY_FLAG) {
      if ((payload.readUInt32BE(start) & 0x7fff_ffff) >>> 0 === id) throw protocolError("stream depends on itself");
      start += 5;
    }
    if (start > end) throw protocolError("HEADERS padding exceeds the frame");
    this.headerParts = [];
    this.headerBytes = 0;
    this.headerStream = id;
    this.headerEndStream = (flags & END_STREAM) !== 0;
    this.addHeaderPart(payload.subarray(start, end));
    if (flags & END_HEADERS) this.headerBlockDone();
    else if (end === start) this.invalidFrame("empty HEADERS frames");
  }

  /** One fragment of a header block; the block's bytes count against maxHeaderListSize as they arrive. */
  private addHeaderPart(part: Buffer): void {
    this.headerBytes += part.length;
    if (this.headerBytes > this.limits.maxHeaderListSize)
      throw peerError(
        "TRANSPORT_H2_HEADER_LIST_TOO_LARGE",
        H2_ERROR.ENHANCE_YOUR_CALM,
        `a header block of more than ${this.limits.maxHeaderListSize} bytes (SETTINGS_MAX_HEADER_LIST_SIZE)`,
      );
    if (part.length > 0) this.headerParts!.push(part);
  }

  private headerBlockDone(): void {
    const parts = this.headerParts!;
    this.headerParts = undefined;
    // Decode even for streams we no longer track: the HPACK table must stay in step.
    const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.headerBytes);
    const headers = this.decoder.decode(block, this.limits.maxHeaderListSize);
    const s = this.streams.get(this.headerStream);
    if (!s) {
      if (this.opts.role === "server") this.newPeerStream(this.headerStream, headers, this.headerEndStream);
      else if (this.isIdle(this.headerStream)) throw protocolError(`HEADERS on idle stream ${this.headerStream}`);
      return;
    }
    if (s.remoteEnded) {
      if (!s.closed) this.resetStream(s, H2_ERROR.STREAM_CLOSED);
      return;
    }
    if (this.opts.role === "server") {
      // A request's trailers: they must end the stream and carry no pseudo-headers.
      if (!this.headerEndStream || trailerProblem(this.decoder.pseudo, this.decoder.malformed)) {
        this.resetStream(s, H2_ERROR.PROTOCOL_ERROR);
        return;
      }
      if (s.contentLeft > 0) {
        this.resetStream(s, H2_ERROR.PROTOCOL_ERROR);
        return;
      }
    }
    if (this.headerEndStream) s.remoteEnded = true; // before the sink hears it, as for DATA
    s.sink.onHeaders(headers, this.headerEndStream);
    if (this.headerEndStream && !s.closed) this.remoteEnd(s);
  }

  /** Server: a HEADERS frame opened stream `id`. */
  private newPeerStream(id: number, headers: HeaderMap, endStream: boolean): void {
    // Even, reused or lower ids: a connection error (RFC 9113 §5.1.1), as Go's server has it (a gRPC
    // client sends no HEADERS after its request's, so none can be in flight on a stream we reset).
    if (id % 2 === 0 || id <= this.lastPeerStream) throw protocolError(`client opened stream ${id} out of order`);
    this.lastPeerStream = id;
    const problem = requestProblem(this.decoder.pseudo, this.decoder.malformed);
    if (problem !== undefined) {
      this.rejectStream(id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    if (this.draining || this.streams.size >= this.limits.maxConcurrentStreams) {
      // After our GOAWAY no new calls start, nor beyond MAX_CONCURRENT_STREAMS: the client may retry.
      if (!this.draining) this.invalidFrame("streams beyond SETTINGS_MAX_CONCURRENT_STREAMS");
      this.rejectStream(id, H2_ERROR.REFUSED_STREAM);
      return;
    }
    const s = new H2Stream(this, NO_SINK, this.peerInitialWindow);
    s.id = id;
    s.shiftAt = this.windowShift;
    const cl = headers["content-length"];
    if (cl !== undefined) {
      s.contentLeft = typeof cl === "string" && /^\d{1,15}$/.test(cl) ? Number(cl) : Number.NaN;
      if (Number.isNaN(s.contentLeft) || (endStream && s.contentLeft !== 0)) {
        this.rejectStream(id, H2_ERROR.PROTOCOL_ERROR);
        return;
      }
    }
    this.streams.set(id, s);
    if (endStream) s.remoteEnded = true;
    s.sink = this.opts.onStream!(s, headers, endStream);
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  /** Resets a stream that has no record here (refused, malformed, or closed already). */
  private rejectStream(id: number, code: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code, 0);
    this.queueControl(frameHeader(4, T.RST_STREAM, 0, id), p);
    this.noteReset(id);
  }

  /** Counts DATA against the request's content-length; false (and the stream reset) when they disagree. */
  private contentCounts(s: H2Stream, n: number, last: boolean): boolean {
    s.contentLeft -= n;
    if (s.contentLeft < 0 || (last && s.contentLeft !== 0)) {
      this.resetStream(s, H2_ERROR.PROTOCOL_ERROR);
      return false;
    }
    return true;
  }

  private remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    s.sink.onEnd();
    if (s.closed) return;
    if (s.localEnded) this.finishStream(s, undefined, undefined);
  }

  private onSettings(flags: number, payload: Buffer): void {
    if (flags & ACK) {
      if (payload.length !== 0)
        throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0)
      throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS of wrong size");
    if (payload.length / 6 > this.limits.maxSettingsEntries)
      throw peerError(
        "TRANSPORT_H2_FLOOD",
        H2_ERROR.ENHANCE_YOUR_CALM,
        `a SETTINGS frame of more than ${this.limits.maxSettingsEntries} entries`,
      );
    let initialWindow = -1;
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === 0x1) {
        if (value < 4096) this.tableSizeUpdate = value; // we never index, but must acknowledge a smaller table
      } else if (key === 0x2) {
        if (value > 1) throw protocolError("ENABLE_PUSH must be 0 or 1");
      } else if (key === 0x3) {
        this.peerMaxStreams = value;
      } else if (key === 0x4) {
        if (value > MAX_WINDOW)
          throw peerError("TRANSPORT_H2_FLOW_CONTROL", H2_ERROR.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large");
        initialWindow = value;
      } else if (key === 0x5) {
        if (value < 16_384 || value > 16_777_215) throw protocolError("MAX_FRAME_SIZE out of range");
        this.peerMaxFrame = value;
      }
    }
    // Once per frame, and O(1): each stream applies the shift when it next sends (flushStream).
    if (initialWindow >= 0 && initialWindow !== this.peerInitialWindow) {
      this.windowShift += initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = initialWindow;
    }
    this.queueControl(frameHeader(0, T.SETTINGS, ACK, 0));
    if (!this.ready) {
      this.ready = true;
      this.opts.onReady();
    }
    this.unblock();
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8)
      throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "GOAWAY of wrong size");
    const last = payload.readUInt32BE(0) & 0x7fff_ffff;
    const code = payload.readUInt32BE(4);
    if (code !== H2_ERROR.NO_ERROR)
      this.closeError = new Error(`peer sent GOAWAY (code ${code}): ${payload.subarray(8, 8 + 256).toString()}`);
    if (!this.draining) {
      this.draining = true;
      this.opts.onDraining();
    }
    // `last` counts streams this side opened: a client's streams the server never processed may be
    // retried elsewhere (report them refused); a server opens none, so its peer's streams go on.
    if (this.opts.role === "client") {
      // The server's reason (its GOAWAY debug data) goes with the calls it refused: "too many connections", ...
      const refused = new Error(`stream refused by GOAWAY${this.closeError ? `: ${this.closeError.message}` : ""}`);
      for (const s of [...this.streams.values()])
        if (s.id > last) this.finishStream(s, H2_ERROR.REFUSED_STREAM, refused);
      for (const s of [...this.waiting]) this.finishStream(s, H2_ERROR.REFUSED_STREAM, refused);
    }
    if (this.activeStreams === 0 && !this.closed) this.endSocket();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw peerError("TRANSPORT_H2_FRAME_SIZE", H2_ERROR.FRAME_SIZE_ERROR, "WINDOW_UPDATE of wrong size");
    const inc = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) {
      if (inc === 0) throw protocolError("WINDOW_UPDATE of 0 on the connection");
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW)
        throw peerError(
          "TRANSPORT_H2_FLOW_CONTROL",
          H2_ERROR.FLOW_CONTROL_ERROR,
          "WINDOW_UPDATE took the connection's window past 2^31-1",
        );
      this.unblock();
      return;
    }
    if (this.isIdle(id)) throw protocolError(`WINDOW_UPDATE on idle stream ${id}`);
    const s = this.streams.get(id);
    if (inc === 0) {
      if (s) this.resetStream(s, H2_ERROR.PROTOCOL_ERROR);
      else this.rejectStream(id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    if (!s) return;
    if (s.shiftAt !== this.windowShift) this.applyShift(s);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.resetStream(s, H2_ERROR.FLOW_CONTROL_ERROR);
      return;
    }
    this.flushStream(s);
  }

  private unblock(): void {
    if (this.blocked.size === 0) return;
    const list = [...this.blocked];
    this.blocked.clear();
    for (const s of list) this.flushStream(s);
  }
}

/** The payload length in the frame header at `off`, checked against our SETTINGS_MAX_FRAME_SIZE before any of it is buffered. */
function frameLength(buf: Buffer, off: number): number {
  const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
  if (len > OUR_MAX_FRAME)
    throw peerError(
      "TRANSPORT_H2_FRAME_SIZE",
      H2_ERROR.FRAME_SIZE_ERROR,
      `a frame of ${len} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${OUR_MAX_FRAME}`,
    );
  return len;
}

function frameHeader(len: number, type: number, flags: number, id: number): Buffer {
  // Byte stores, not writeUInt32BE: Node validates its arguments on every call, a cost per frame.
  const h = Buffer.allocUnsafe(9);
  h[0] = (len >>> 16) & 0xff;
  h[1] = (len >>> 8) & 0xff;
  h[2] = len & 0xff;
  h[3] = type;
  h[4] = flags;
  h[5] = (id >>> 24) & 0x7f;
  h[6] = (id >>> 16) & 0xff;
  h[7] = (id >>> 8) & 0xff;
  h[8] = id & 0xff;
  return h;
}

function encodeSizeUpdate(size: number): number[] {
  const out: number[] = [];
  if (size < 31) return [0x20 | size];
  out.push(0x20 | 31);
  let v = size - 31;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** A PROTOCOL_ERROR the peer caused. */
function protocolError(message: string): TransportError {
  return peerError("TRANSPORT_H2_PROTOCOL", H2_ERROR.PROTOCOL_ERROR, message);
}

/** Whatever a frame's handling threw, as the connection error to close with. */
function asPeerError(err: unknown): TransportError {
  if (err instanceof TransportError && typeof err.details.h2Code === "number") return err;
  if (err instanceof HpackError) {
    if (err.code === "HPACK_HEADER_LIST_TOO_LARGE")
      return peerError("TRANSPORT_H2_HEADER_LIST_TOO_LARGE", H2_ERROR.ENHANCE_YOUR_CALM, err.message, err);
    return peerError("TRANSPORT_H2_COMPRESSION", H2_ERROR.COMPRESSION_ERROR, err.message, err);
  }
  return peerError("TRANSPORT_H2_PROTOCOL", H2_ERROR.PROTOCOL_ERROR, (err as Error).message, err);
}
