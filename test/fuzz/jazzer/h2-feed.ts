/**
 * The HTTP/2 frame reader (H2Connection) of either role fed a peer's bytes:
 * the property of test/transport/fuzz.test.ts. The connection stays open or
 * closes with a coded HTTP/2 error, and what it keeps of a half-read frame
 * stays under one frame. A server charges the budgets a PodplugServer shares
 * among its connections (small here, so the fuzzer reaches them), and once the
 * connection is gone it has given every byte back.
 */
import { TransportError } from "../../../src/transport/errors.ts";
import { serverBudgets } from "../../../src/transport/h2/byte-budget.ts";
import { H2Connection, type StreamSink } from "../../../src/transport/h2/connection.ts";
import { encodeHeaders } from "../../../src/transport/h2/hpack.ts";
import { expect, MemorySocket } from "./crash.ts";

const SINK: StreamSink = { onHeaders() {}, onData() {}, onEnd() {}, onClose() {} };

/** The request a client target has open while the server's bytes arrive. */
export const REQUEST = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/p.S/M"],
  [":authority", "x"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);

/** The client connection preface. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** An empty SETTINGS frame. */
export const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** Feeds `pieces`, one socket read each, to a fresh connection of `role`; checks the property. */
export function feed(role: "client" | "server", pieces: Iterable<Buffer>): void {
  const sock = new MemorySocket();
  let closedWith: Error | undefined | null = null;
  const budgets =
    role === "server" ? serverBudgets({ maxPausedBytes: 32 * 1024, maxSendQueueBytes: 32 * 1024 }) : undefined;
  const conn = new H2Connection(sock, {
    role,
    budgets,
    onStream: (s, _h, end) => {
      // Answer some calls at once, leave others open, as a server does.
      if (end) s.respond(encodeHeaders([[":status", "200"]]), true);
      // And, as a handler that reads slowly does, pause every other stream and hold what it sent unread.
      if (((s.id >> 1) & 1) === 1) {
        s.pause();
        return { ...SINK, onData: (d) => s.holdRead(d.length) };
      }
      return SINK;
    },
    onReady() {},
    onDraining() {},
    onClosed(err) {
      closedWith = err;
    },
  });
  try {
    if (role === "client") conn.request(REQUEST, SINK);
    for (const p of pieces) sock.emit("data", p);
    const err = closedWith as Error | undefined | null;
    if (err) {
      expect(
        (err instanceof TransportError && typeof err.details.h2Code === "number") ||
          /connection closed/.test(err.message),
        () => `closed with an uncoded error: ${err.stack}`,
      );
    }
    // What is kept of a half-read frame stays under one frame (16 KiB payload + 9).
    const kept = (conn as unknown as { inBytes: number }).inBytes;
    expect(kept <= 16_384 + 9, () => `${kept} bytes kept of a half-read frame`);
  } finally {
    conn.destroy(new Error("connection closed"));
  }
  if (budgets) {
    const { paused, sendQueue } = budgets;
    expect(
      paused.used === 0 && sendQueue.used === 0,
      () => `closed, still charged: paused ${paused.used}, send queue ${sendQueue.used}`,
    );
  }
}
