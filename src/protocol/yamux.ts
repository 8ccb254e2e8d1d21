/**
 * hashicorp/yamux, the stream multiplexer go-plugin's GRPCBrokerMultiplex
 * runs on one plugin socket (its spec.md, version 0): 12-byte frame headers,
 * SYN/ACK/FIN/RST flags, 256 KiB per-stream windows credited by window
 * updates, pings answered, go-away honoured. The host is the yamux client
 * (odd stream ids), the plugin the server (even ids). Any breach of the
 * framing by the peer ends the session with MULTIPLEX_PROTOCOL, never a
 * crash: the peer is another process.
 */
import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import { PodplugError } from "../errors.ts";

/** Frame header: version(1) type(1) flags(2) stream id(4) length(4), big-endian. */
export const YAMUX_HEADER_BYTES = 12;
/** Every stream starts with this receive window (yamux's initialStreamWindow). */
export const YAMUX_INITIAL_WINDOW = 256 * 1024;

const TYPE_DATA = 0;
const TYPE_WINDOW_UPDATE = 1;
const TYPE_PING = 2;
const TYPE_GO_AWAY = 3;
const FLAG_SYN = 1;
const FLAG_ACK = 2;
const FLAG_FIN = 4;
const FLAG_RST = 8;
const GO_AWAY_NORMAL = 0;
const GO_AWAY_PROTOCOL_ERROR = 1;
/**
 * Streams the peer may have open at once (go-yamux's AcceptBacklog): one
 * opened past it is reset, as go-yamux resets a stream its backlog has no room
 * for. Each holds up to its 256 KiB window, so this bounds what a peer can park.
 */
export const YAMUX_MAX_PEER_STREAMS = 256;
/**
 * Bytes of our answers (ping acks, resets) the connection may hold unwritten:
 * a peer that sends pings or opens streams but never reads is cut off past it.
 */
export const YAMUX_MAX_QUEUED_CONTROL = 1 << 20;
/** Largest data frame sent at once, so streams interleave fairly on the one socket. */
const MAX_FRAME_PAYLOAD = 64 * 1024;

/** Which end of the session: the host dials (client), the plugin accepts (server). */
export type YamuxRole = "client" | "server";

/** Encodes one frame header. */
export function yamuxHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(YAMUX_HEADER_BYTES);
  h[0] = 0;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(streamId, 4);
  h.writeUInt32BE(length, 8);
  return h;
}

function protocolError(message: string, details: Record<string, unknown> = {}): PodplugError {
  return new PodplugError(
    "MULTIPLEX_PROTOCOL",
    `yamux: ${message}; the multiplexed plugin connection is closed. The peer does not speak go-plugin's GRPCBrokerMultiplex correctly.`,
    details,
  );
}

/** One logical connection inside a session: a Node Duplex with yamux flow control. */
export class YamuxStream extends Duplex {
  readonly id: number;
  private readonly session: YamuxSession;
  private sendWindow = YAMUX_INITIAL_WINDOW;
  private recvWindow = YAMUX_INITIAL_WINDOW;
  /** Bytes the consumer took that the peer has not been credited for yet. */
  private uncredited = 0;
  /** Bytes pushed while the readable side was full: credited once it reads again. */
  private held = 0;
  /** The first frame out carries SYN (we opened it) or ACK (the peer did); 0 once sent. */
  private openFlag: number;
  private pending: { chunk: Buffer; cb: (err?: Error | null) => void } | undefined;
  private localClosed = false;
  private remoteClosed = false;
  private reset = false;

  constructor(session: YamuxSession, id: number, opened: boolean) {
    super({ readableHighWaterMark: YAMUX_INITIAL_WINDOW, allowHalfOpen: true });
    this.session = session;
    this.id = id;
    this.openFlag = opened ? FLAG_SYN : FLAG_ACK;
    // Announce the stream (SYN) or accept it (ACK) at once: go-yamux closes a session whose opens stay unanswered.
    this.sendControl(0);
  }

  private takeOpenFlag(): number {
    const f = this.openFlag;
    this.openFlag = 0;
    return f;
  }

  private sendControl(flags: number, delta = 0): void {
    this.session.writeFrame(yamuxHeader(TYPE_WINDOW_UPDATE, flags | this.takeOpenFlag(), this.id, delta));
  }

  /** A frame for this stream arrived (the session checked the framing). */
  receive(type: number, flags: number, payload: Buffer | undefined, length: number): void {
    if (flags & FLAG_RST) {
      this.reset = true;
      this.session.forget(this.id);
      this.destroy(
        new PodplugError("MULTIPLEX_PROTOCOL", `yamux: stream ${this.id} was reset by the peer.`, { stream: this.id }),
      );
      return;
    }
    if (type === TYPE_WINDOW_UPDATE) {
      this.sendWindow += length;
      this.flush();
    } else if (payload && payload.length > 0) {
      if (payload.length > this.recvWindow) {
        this.session.fail(
          protocolError(`stream ${this.id} received ${payload.length} bytes with a window of ${this.recvWindow}`, {
            stream: this.id,
          }),
        );
        return;
      }
      this.recvWindow -= payload.length;
      if (!this.remoteClosed && !this.destroyed) {
        if (this.push(payload)) this.credit(payload.length);
        else this.held += payload.length;
      }
    }
    if (flags & FLAG_FIN && !this.remoteClosed) {
      this.remoteClosed = true;
      this.push(null);
      if (this.localClosed) this.session.forget(this.id);
    }
  }

  private credit(n: number): void {
    this.uncredited += n;
    // As yamux does: update once half the window is used, so the peer never stalls.
    if (this.uncredited >= YAMUX_INITIAL_WINDOW / 2 && !this.remoteClosed && !this.destroyed) {
      this.recvWindow += this.uncredited;
      this.sendControl(0, this.uncredited);
      this.uncredited = 0;
    }
  }

  override _read(): void {
    if (this.held === 0) return;
    const n = this.held;
    this.held = 0;
    this.credit(n);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = { chunk, cb };
    this.flush();
  }

  /** Sends as much of the pending write as the peer's window allows. */
  private flush(): void {
    const p = this.pending;
    if (!p) return;
    if (this.reset || this.session.isClosed) {
      this.pending = undefined;
      p.cb(this.session.closeError() ?? new PodplugError("MULTIPLEX_PROTOCOL", `yamux: stream ${this.id} is closed.`));
      return;
    }
    while (p.chunk.length > 0 && this.sendWindow > 0) {
      const n = Math.min(p.chunk.length, this.sendWindow, MAX_FRAME_PAYLOAD);
      this.session.writeFrame(yamuxHeader(TYPE_DATA, this.takeOpenFlag(), this.id, n), p.chunk.subarray(0, n));
      this.sendWindow -= n;
      p.chunk = p.chunk.subarray(n);
    }
    if (p.chunk.length === 0) {
      this.pending = undefined;
      this.session.afterDrain(() => p.cb());
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.reset && !this.session.isClosed) this.sendControl(FLAG_FIN);
    this.localClosed = true;
    if (this.remoteClosed) this.session.forget(this.id);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const p = this.pending;
    this.pending = undefined;
    p?.cb(err ?? new PodplugError("MULTIPLEX_PROTOCOL", `yamux: stream ${this.id} was closed.`));
    if (!this.reset && !(this.localClosed && this.remoteClosed) && !this.session.isClosed) {
      this.session.writeFrame(yamuxHeader(TYPE_WINDOW_UPDATE, FLAG_RST | this.takeOpenFlag(), this.id, 0));
    }
    this.reset = true;
    this.session.forget(this.id);
    cb(err);
  }
}

/** Options of a {@link YamuxSession}. */
export interface YamuxOptions {
  /** Called with each stream the peer opens. */
  onStream?: (stream: YamuxStream) => void;
}

/**
 * A yamux session over one connection. Emits `close` (with the error, if the
 * session failed) once, when the connection is gone.
 */
export class YamuxSession extends EventEmitter<{ close: [Error | undefined] }> {
  private readonly conn: Duplex;
  private readonly role: YamuxRole;
  private readonly streams = new Map<number, YamuxStream>();
  private readonly onStream: ((s: YamuxStream) => void) | undefined;
  private nextId: number;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private error: Error | undefined;
  private remoteGoneAway = false;
  /** Streams the peer has open (its parity), bounded by YAMUX_MAX_PEER_STREAMS. */
  private peerStreams = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(conn: Duplex, role: YamuxRole, opts: YamuxOptions = {}) {
    super();
    this.conn = conn;
    this.role = role;
    this.onStream = opts.onStream;
    this.nextId = role === "client" ? 1 : 2;
    conn.on("data", (d: Buffer) => this.onData(d));
    conn.on("drain", () => {
      for (const w of this.drainWaiters.splice(0)) w();
    });
    conn.on("error", (err) => this.shutdown(err));
    conn.on("end", () => this.shutdown(undefined));
    conn.on("close", () => this.shutdown(undefined));
  }

  /** True once the session ended (the connection is gone or was closed). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the session ended, when it failed. */
  closeError(): Error | undefined {
    return this.error;
  }

  /** How many streams are open. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Opens a stream to the peer. */
  open(): YamuxStream {
    if (this.closed || this.remoteGoneAway) {
      throw new PodplugError(
        "MULTIPLEX_PROTOCOL",
        this.closed
          ? "yamux: the multiplexed plugin connection is closed; no stream can be opened."
          : "yamux: the peer sent go-away; it accepts no new streams.",
      );
    }
    const id = this.nextId;
    this.nextId += 2;
    const s = new YamuxStream(this, id, true);
    this.streams.set(id, s);
    return s;
  }

  /** Ends the session: go-away to the peer, then the connection closes; open streams end. */
  close(): void {
    if (this.closed) return;
    this.writeFrame(yamuxHeader(TYPE_GO_AWAY, 0, 0, GO_AWAY_NORMAL));
    this.conn.end();
    this.shutdown(undefined);
  }

  /** Ends the session because the peer broke the protocol: go-away (protocol error), then close. */
  fail(err: PodplugError): void {
    if (this.closed) return;
    this.writeFrame(yamuxHeader(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTOCOL_ERROR));
    this.conn.end();
    this.shutdown(err);
  }

  /** Writes one frame (a stream's or the session's own). */
  writeFrame(header: Buffer, payload?: Buffer): void {
    if (this.closed || this.conn.destroyed || this.conn.writableEnded) return;
    this.conn.write(payload ? Buffer.concat([header, payload]) : header);
  }

  /** Runs `fn` once the connection has room again (at once when it has). */
  afterDrain(fn: () => void): void {
    if (this.closed || !this.conn.writableNeedDrain) fn();
    else this.drainWaiters.push(fn);
  }

  /** Drops a finished stream from the table. */
  forget(id: number): void {
    const peerOpened = this.role === "client" ? id % 2 === 0 : id % 2 === 1;
    if (this.streams.delete(id) && peerOpened) this.peerStreams--;
  }

  /** Writes an answer to the peer's frame, unless the peer left too many unread (then the session ends, MULTIPLEX_FLOOD). */
  private writeControl(header: Buffer): void {
    if (this.conn.writableLength > YAMUX_MAX_QUEUED_CONTROL) {
      if (this.closed) return;
      this.conn.destroy();
      this.shutdown(
        new PodplugError(
          "MULTIPLEX_FLOOD",
          `yamux: the peer left more than ${YAMUX_MAX_QUEUED_CONTROL} bytes of answers (ping acks, stream resets) unread; the multiplexed plugin connection is closed.`,
          { queued: this.conn.writableLength },
        ),
      );
      return;
    }
    this.writeFrame(header);
  }

  private shutdown(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.error = err;
    this.conn.destroy();
    // A clean end closes streams quietly; a failure reaches each stream's error listeners.
    for (const s of [...this.streams.values()]) s.destroy(err);
    this.streams.clear();
    for (const w of this.drainWaiters.splice(0)) w();
    this.emit("close", err);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (!this.closed && this.buf.length >= YAMUX_HEADER_BYTES) {
      const b = this.buf;
      const version = b[0]!;
      const type = b[1]!;
      const flags = b.readUInt16BE(2);
      const id = b.readUInt32BE(4);
      const length = b.readUInt32BE(8);
      if (version !== 0) return this.fail(protocolError(`unsupported frame version ${version}`, { version }));
      if (type > TYPE_GO_AWAY) return this.fail(protocolError(`unknown frame type ${type}`, { type }));
      let payload: Buffer | undefined;
      if (type === TYPE_DATA) {
        // A data frame never exceeds the window the peer was given: larger lengths are hostile.
        if (length > YAMUX_INITIAL_WINDOW)
          return this.fail(protocolError(`data frame of ${length} bytes exceeds the stream window`, { length }));
        if (b.length < YAMUX_HEADER_BYTES + length) return;
        payload = b.subarray(YAMUX_HEADER_BYTES, YAMUX_HEADER_BYTES + length);
        this.buf = b.subarray(YAMUX_HEADER_BYTES + length);
      } else {
        this.buf = b.subarray(YAMUX_HEADER_BYTES);
      }
      this.frame(type, flags, id, length, payload);
    }
  }

  private frame(type: number, flags: number, id: number, length: number, payload: Buffer | undefined): void {
    if (type === TYPE_PING) {
      if (id !== 0) return this.fail(protocolError(`ping on stream ${id}`, { stream: id }));
      if (flags & FLAG_SYN) this.writeControl(yamuxHeader(TYPE_PING, FLAG_ACK, 0, length));
      return;
    }
    if (type === TYPE_GO_AWAY) {
      if (id !== 0) return this.fail(protocolError(`go-away on stream ${id}`, { stream: id }));
      this.remoteGoneAway = true;
      return;
    }
    if (id === 0) return this.fail(protocolError("stream frame on stream 0"));
    let s = this.streams.get(id);
    if (flags & FLAG_SYN) {
      if (s) return this.fail(protocolError(`duplicate stream id ${id}`, { stream: id }));
      // The peer's ids have the other parity: odd from the client, even from the server.
      const peerOpens = this.role === "client" ? id % 2 === 0 : id % 2 === 1;
      if (!peerOpens) return this.fail(protocolError(`stream id ${id} has this side's parity`, { stream: id }));
      if (this.peerStreams >= YAMUX_MAX_PEER_STREAMS) {
        this.writeControl(yamuxHeader(TYPE_WINDOW_UPDATE, FLAG_RST, id, 0));
        return;
      }
      s = new YamuxStream(this, id, false);
      this.streams.set(id, s);
      this.peerStreams++;
      s.receive(type, flags, payload, length);
      if (this.onStream) this.onStream(s);
      else s.destroy();
      return;
    }
    // Frames for a stream already gone (reset or closed here) are dropped, as yamux does.
    s?.receive(type, flags, payload, length);
  }
}
