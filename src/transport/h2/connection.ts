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
import { type HeaderMap, HpackDecoder, HpackError } from "./hpack.ts";

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
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
} as const;

/** Our receive windows: per stream, and for the connection. */
const STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 16 << 20;
const DEFAULT_WINDOW = 65_535;
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
  paused = false;
  localEnded = false;
  remoteEnded = false;
  closed = false;
  /** Data waiting for send window, and callbacks to run once each piece is framed. */
  pending: Buffer[] | undefined;
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
    // The common case (nothing queued, window enough): framed at once, no queue arrays.
    if (this.pending === undefined || this.pending.length === 0) {
      if (this.session.sendData(this, buf)) {
        if (cb) process.nextTick(cb);
        return;
      }
    }
    (this.pending ??= []).push(buf);
    (this.pendingCbs ??= []).push(cb);
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
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.session.ackStream(this, true);
  }
}

/** Options of a connection. */
export interface SessionOptions {
  /** Which end this is. */
  role: "client" | "server";
  /** Client: `http` or `https`. */
  scheme?: string;
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
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2Stream>();
  private nextId = 1;
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Counts writes: a frame still in `out` belongs to the current batch. */
  private batch = 0;
  private flushScheduled = false;
  private inbuf: Buffer | undefined;
  /** A header block spread over CONTINUATION frames. */
  private headerParts: Buffer[] | undefined;
  private headerStream = 0;
  private headerEndStream = false;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private peerMaxStreams = Infinity;
  /** Streams waiting for a free slot under the peer's MAX_CONCURRENT_STREAMS. */
  private waiting: H2Stream[] = [];
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
    // Preface, our SETTINGS (no push, our stream window), and a bigger connection window.
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(STREAM_WINDOW, 8);
    const wu = Buffer.alloc(4);
    wu.writeUInt32BE(CONN_WINDOW - DEFAULT_WINDOW, 0);
    const frames = [frameHeader(12, T.SETTINGS, 0, 0), settings, frameHeader(4, T.WINDOW_UPDATE, 0, 0), wu];
    if (opts.role === "client") frames.unshift(PREFACE);
    this.prefaceLeft = opts.role === "server" ? PREFACE.length : 0;
    this.queue(...frames);
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("error", (err: Error) => this.destroy(err));
    socket.on("close", () => this.destroy(this.closeError ?? new Error("connection closed")));
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

  /** Ends the connection at once; every open stream fails with `err`. */
  destroy(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    if (!this.draining) {
      this.draining = true;
      this.opts.onDraining();
    }
    this.closeError ??= err;
    const all = [...this.streams.values(), ...this.waiting];
    this.streams.clear();
    this.waiting = [];
    this.blocked.clear();
    for (const s of all) {
      if (s.closed) continue;
      s.closed = true;
      s.sink.onClose(undefined, err);
    }
    this.socket.destroy();
    this.opts.onClosed(err);
  }

  private endSocket(): void {
    this.flush();
    this.closed = true;
    this.socket.end();
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
      if (n === buf.length) {
        q.shift();
        const cb = cbs!.shift();
        if (cb) process.nextTick(cb);
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

  /** @internal */
  resetStream(s: H2Stream, code: number): void {
    if (s.id !== 0) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(code, 0);
      this.queue(frameHeader(4, T.RST_STREAM, 0, s.id), p);
    }
    this.finishStream(s, undefined, undefined);
  }

  /** @internal Returns received bytes to the peer's window for this stream. */
  ackStream(s: H2Stream, force: boolean): void {
    if (s.paused || s.closed || s.unacked === 0) return;
    if (!force && s.unacked < STREAM_WINDOW / 2) return;
    this.windowUpdate(s.id, s.unacked);
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
    if (out.length === 1) {
      this.socket.write(out[0]!);
      return;
    }
    if (bytes < BIG_WRITE) {
      this.socket.write(Buffer.concat(out, bytes));
      return;
    }
    // Large messages: one writev of the big pieces as they are, small runs between them joined (no copy of the payloads).
    this.socket.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    for (const b of out) {
      if (b.length < BIG_PIECE) {
        run.push(b);
        runBytes += b.length;
        continue;
      }
      if (run.length > 0) this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
      this.socket.write(b);
    }
    if (run.length > 0) this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes));
    this.socket.uncork();
  }

  private onSocketData(chunk: Buffer): void {
    this.lastReadAt = performance.now();
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, chunk.length);
      const at = PREFACE.length - this.prefaceLeft;
      if (!chunk.subarray(0, n).equals(PREFACE.subarray(at, at + n))) {
        this.destroy(new Error("the peer did not send the HTTP/2 client preface"));
        return;
      }
      this.prefaceLeft -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    const buf = this.inbuf ? Buffer.concat([this.inbuf, chunk]) : chunk;
    this.inbuf = undefined;
    let off = 0;
    try {
      while (buf.length - off >= 9) {
        const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
        if (buf.length - off < 9 + len) break;
        const type = buf[off + 3]!;
        const flags = buf[off + 4]!;
        const id = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
        const payload = buf.subarray(off + 9, off + 9 + len);
        off += 9 + len;
        if (type <= T.HEADERS) this.peerData = true;
        this.onFrame(type, flags, id, payload);
        if (this.closed) return;
      }
    } catch (err) {
      this.fail(
        err instanceof HpackError ? H2_ERROR.COMPRESSION_ERROR : H2_ERROR.PROTOCOL_ERROR,
        (err as Error).message,
      );
      return;
    }
    if (off < buf.length) this.inbuf = off === 0 ? buf : buf.subarray(off);
    // Batch window updates per read, not per frame.
    if (this.connUnacked >= CONN_WINDOW / 2) {
      this.windowUpdate(0, this.connUnacked);
      this.connUnacked = 0;
    }
  }

  /** A connection error: GOAWAY with `code`, then close. */
  private fail(code: number, message: string): void {
    const p = Buffer.alloc(8 + Buffer.byteLength(message));
    p.writeUInt32BE(this.lastPeerStream, 0); // the last stream the peer opened that we processed
    p.writeUInt32BE(code, 4);
    p.write(message, 8);
    this.queue(frameHeader(p.length, T.GOAWAY, 0, 0), p);
    this.flush();
    this.destroy(new Error(`HTTP/2 protocol error: ${message}`));
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerParts && type !== T.CONTINUATION) throw new Error("expected a CONTINUATION frame");
    switch (type) {
      case T.DATA:
        return this.onDataFrame(flags, id, payload);
      case T.HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case T.CONTINUATION: {
        if (!this.headerParts || id !== this.headerStream) throw new Error("unexpected CONTINUATION frame");
        this.headerParts.push(payload);
        if (flags & END_HEADERS) this.headerBlockDone();
        return;
      }
      case T.RST_STREAM: {
        if (payload.length !== 4) throw new Error("RST_STREAM of wrong size");
        const s = this.streams.get(id);
        if (s) this.finishStream(s, payload.readUInt32BE(0), undefined);
        return;
      }
      case T.SETTINGS:
        return this.onSettings(flags, payload);
      case T.PING:
        if (payload.length !== 8) throw new Error("PING of wrong size");
        if (!(flags & ACK)) this.queue(frameHeader(8, T.PING, ACK, 0), Buffer.from(payload));
        return;
      case T.GOAWAY:
        return this.onGoaway(payload);
      case T.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case T.PUSH_PROMISE:
        throw new Error("PUSH_PROMISE received although push is disabled");
      default:
        return; // PRIORITY and unknown frame types are ignored, as the RFC asks
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    this.connUnacked += payload.length;
    const s = this.streams.get(id);
    let data = payload;
    if (flags & PADDED) {
      const pad = payload[0]!;
      if (pad >= payload.length) throw new Error("DATA padding exceeds the frame");
      data = payload.subarray(1, payload.length - pad);
    }
    if (!s || s.remoteEnded) return; // a stream we reset: its window was counted above
    s.unacked += payload.length;
    const last = (flags & END_STREAM) !== 0;
    if (last) s.remoteEnded = true; // before the sink hears it: a call finishing now must see it
    if (data.length > 0) s.sink.onData(data);
    if (s.closed) return;
    if (last) this.remoteEnd(s);
    else this.ackStream(s, false);
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      const pad = payload[0]!;
      start = 1;
      end -= pad;
    }
    if (flags & PRIORITY_FLAG) start += 5;
    if (start > end) throw new Error("HEADERS padding exceeds the frame");
    this.headerParts = [payload.subarray(start, end)];
    this.headerStream = id;
    this.headerEndStream = (flags & END_STREAM) !== 0;
    if (flags & END_HEADERS) this.headerBlockDone();
  }

  private headerBlockDone(): void {
    const parts = this.headerParts!;
    this.headerParts = undefined;
    // Decode even for streams we no longer track: the HPACK table must stay in step.
    const headers = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    const s = this.streams.get(this.headerStream);
    if (!s) {
      if (this.opts.role === "server") this.newPeerStream(this.headerStream, headers, this.headerEndStream);
      return;
    }
    if (s.remoteEnded) return;
    if (this.headerEndStream) s.remoteEnded = true; // before the sink hears it, as for DATA
    s.sink.onHeaders(headers, this.headerEndStream);
    if (this.headerEndStream && !s.closed) this.remoteEnd(s);
  }

  /** Server: a HEADERS frame opened stream `id`. */
  private newPeerStream(id: number, headers: HeaderMap, endStream: boolean): void {
    if (id % 2 === 0 || id <= this.lastPeerStream) {
      if (id > this.lastPeerStream || id % 2 === 0) throw new Error(`client opened stream ${id} out of order`);
      return; // HEADERS on a stream already closed here (a late trailer): ignored
    }
    this.lastPeerStream = id;
    const s = new H2Stream(this, NO_SINK, this.peerInitialWindow);
    s.id = id;
    if (this.draining) {
      // After our GOAWAY no new calls start: the client may retry elsewhere.
      this.streams.set(id, s);
      this.resetStream(s, H2_ERROR.REFUSED_STREAM);
      return;
    }
    this.streams.set(id, s);
    if (endStream) s.remoteEnded = true;
    s.sink = this.opts.onStream!(s, headers, endStream);
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  private remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    s.sink.onEnd();
    if (s.closed) return;
    if (s.localEnded) this.finishStream(s, undefined, undefined);
  }

  private onSettings(flags: number, payload: Buffer): void {
    if (flags & ACK) return;
    if (payload.length % 6 !== 0) throw new Error("SETTINGS of wrong size");
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === 0x1) {
        if (value < 4096) this.tableSizeUpdate = value; // we never index, but must acknowledge a smaller table
      } else if (key === 0x3) {
        this.peerMaxStreams = value;
      } else if (key === 0x4) {
        if (value > MAX_WINDOW) throw new Error("INITIAL_WINDOW_SIZE too large");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === 0x5) {
        if (value < 16_384 || value > 16_777_215) throw new Error("MAX_FRAME_SIZE out of range");
        this.peerMaxFrame = value;
      }
    }
    this.queue(frameHeader(0, T.SETTINGS, ACK, 0));
    if (!this.ready) {
      this.ready = true;
      this.opts.onReady();
    }
    this.unblock();
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8) throw new Error("GOAWAY of wrong size");
    const last = payload.readUInt32BE(0) & 0x7fff_ffff;
    const code = payload.readUInt32BE(4);
    if (code !== H2_ERROR.NO_ERROR)
      this.closeError = new Error(`peer sent GOAWAY (code ${code}): ${payload.subarray(8).toString()}`);
    if (!this.draining) {
      this.draining = true;
      this.opts.onDraining();
    }
    // `last` counts streams this side opened: a client's streams the server never processed may be
    // retried elsewhere (report them refused); a server opens none, so its peer's streams go on.
    if (this.opts.role === "client") {
      const refused = new Error("stream refused by GOAWAY");
      for (const s of [...this.streams.values()])
        if (s.id > last) this.finishStream(s, H2_ERROR.REFUSED_STREAM, refused);
      for (const s of [...this.waiting]) this.finishStream(s, H2_ERROR.REFUSED_STREAM, refused);
    }
    if (this.activeStreams === 0 && !this.closed) this.endSocket();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new Error("WINDOW_UPDATE of wrong size");
    const inc = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) {
      this.connSendWindow += inc;
      this.unblock();
      return;
    }
    const s = this.streams.get(id);
    if (!s) return;
    s.sendWindow += inc;
    this.flushStream(s);
  }

  private unblock(): void {
    if (this.blocked.size === 0) return;
    const list = [...this.blocked];
    this.blocked.clear();
    for (const s of list) this.flushStream(s);
  }
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
