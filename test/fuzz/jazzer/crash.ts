/**
 * What the jazzer.js targets share. A target's `fuzz(data)` returns when the
 * parser took the input as it should (a result, or the parser's own coded
 * error, caught here); anything it throws is a crash that jazzer saves as a
 * `crash-*` file: another exception escaping the parser, an oracle that failed,
 * or a half-read buffer past its bound.
 */
import { Duplex } from "node:stream";
import { isPodplugError } from "../../../src/errors.ts";

/** A finding: an input the parser mishandled. */
export class FuzzFinding extends Error {
  override name = "FuzzFinding";
}

/** Throws a FuzzFinding with `message` unless `ok`. */
export function expect(ok: boolean, message: () => string): asserts ok {
  if (!ok) throw new FuzzFinding(message());
}

/** Returns if `err` is a coded podplug error whose code matches `codes`; rethrows anything else. */
export function coded(err: unknown, codes: RegExp): void {
  if (isPodplugError(err) && codes.test(err.code)) return;
  throw err;
}

/** A socket in memory: the connection under test is the real code; what it writes is counted and dropped. */
export class MemorySocket extends Duplex {
  written = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written += chunk.length;
    cb();
  }
}

/**
 * Cuts `bytes` into the chunks a socket would deliver: the first byte of a
 * target's input picks the chunk size (0: the rest in one piece), so the
 * fuzzer learns the cut points too.
 */
export function chunks(size: number, bytes: Buffer): Buffer[] {
  if (size === 0 || bytes.length <= size) return [bytes];
  const out: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += size) out.push(bytes.subarray(off, off + size));
  return out;
}

/** Cuts `bytes` at the lengths in `cuts` (then the rest in one piece), as fast-check's targets choose them. */
export function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  for (const n of cuts) {
    if (off >= bytes.length) break;
    out.push(bytes.subarray(off, off + n));
    off += n;
  }
  if (off < bytes.length) out.push(bytes.subarray(off));
  return out;
}
