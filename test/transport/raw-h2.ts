/**
 * A hand-written HTTP/2 peer for tests: frame builders and a connection that
 * records every frame it receives (and answers SETTINGS), either end.
 */
import type * as net from "node:net";
import { encodeHeaders, type HeaderMap, HpackDecoder } from "../../src/transport/h2/hpack.ts";
import { encodeMessage } from "../../src/transport/message-framing.ts";
import type { EchoMessage } from "./fixtures/echo.ts";

/** The client connection preface. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A frame as the peer saw it. */
export interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** One frame's bytes. */
export function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** A big-endian uint32. */
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};

/** A SETTINGS frame. */
export const settings = (pairs: [number, number][] = []): Buffer =>
  frame(4, 0, 0, Buffer.concat(pairs.map(([k, v]) => Buffer.concat([Buffer.from([k >> 8, k & 255]), u32(v)]))));

/** `:status: 200` and the gRPC content-type. */
export const OK_HEADERS = Buffer.concat([Buffer.from([0x88]), encodeHeaders([["content-type", "application/grpc"]])]);

/** A length-prefixed echo message. */
export const message = (m: EchoMessage): Buffer => encodeMessage(Buffer.from(JSON.stringify(m)));

/** One raw connection: as "server" it expects the client preface; as "client" it sends it. */
export class FramePeer {
  readonly frames: Frame[] = [];
  readonly decoder = new HpackDecoder();
  /** Every header block received, with its stream. */
  requests: { id: number; headers: HeaderMap }[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private prefaceLeft: number;
  private waiters: (() => void)[] = [];
  readonly socket: net.Socket;

  constructor(socket: net.Socket, role: "server" | "client") {
    this.socket = socket;
    this.prefaceLeft = role === "server" ? PREFACE.length : 0;
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => this.read(d));
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.write(role === "client" ? Buffer.concat([PREFACE, settings()]) : settings());
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** Waits until `pred` holds (or the connection closed). */
  async until(pred: () => boolean): Promise<void> {
    while (!pred() && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.prefaceLeft > 0) {
      if (this.buf.length < this.prefaceLeft) return;
      this.buf = this.buf.subarray(this.prefaceLeft);
      this.prefaceLeft = 0;
    }
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        id: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: this.buf.subarray(9, 9 + len),
      };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === 4 && !(f.flags & 1)) this.socket.write(frame(4, 1, 0)); // SETTINGS ACK
      if (f.type === 1) this.requests.push({ id: f.id, headers: this.decoder.decode(f.payload) });
    }
    for (const w of this.waiters.splice(0)) w();
  }
}
