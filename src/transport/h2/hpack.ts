/**
 * HPACK (RFC 7541) for podplug's HTTP/2 engine. The decoder is complete (static and
 * dynamic tables, size updates, Huffman strings), since peers (nghttp2,
 * grpc-go) index and Huffman-code freely. The encoder only emits literals
 * without indexing, naming static entries where they exist: no shared state
 * to keep in step, and a call's constant header block can be cached whole.
 */
import { PodplugError } from "../../errors.ts";
import { huffmanDecode } from "./huffman.ts";
import { fieldProblem, PSEUDO_BITS } from "./validate.ts";

/** RFC 7541 Appendix A. */
const STATIC: readonly (readonly [string, string])[] = [
  ["", ""],
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC.length - 1;

/** Static index of each header name (first occurrence), for the encoder. */
const STATIC_NAME = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) STATIC_NAME.set(STATIC[i]![0], i);

/** A decoded header block: repeated names become arrays, as node:http2 gives them. */
export type HeaderMap = Record<string, string | string[]>;

/** Ways a header block can break HPACK. */
export type HpackErrorCode =
  | "HPACK_TABLE_SIZE"
  | "HPACK_INDEX_INVALID"
  | "HPACK_TRUNCATED"
  | "HPACK_INTEGER_OVERFLOW"
  | "HPACK_HUFFMAN_INVALID"
  | "HPACK_HEADER_LIST_TOO_LARGE";

/** Thrown for a header block that breaks HPACK (a connection error: COMPRESSION_ERROR). */
export class HpackError extends PodplugError<HpackErrorCode> {}

/** One connection's HPACK decoder. */
export class HpackDecoder {
  private entries: [string, string][] = [];
  private size = 0;
  private maxSize: number;
  /** The most the peer may set (our SETTINGS_HEADER_TABLE_SIZE). */
  private readonly limit: number;
  /**
   * Set by decode() when the block is valid HPACK but malformed HTTP/2 (RFC 9113 §8.2-8.3):
   * an uppercase name, a pseudo-header that is unknown, repeated or after a regular one, a
   * connection-specific field, `te` other than `trailers`, an empty `:path`. The caller decides
   * what that costs (a server resets the stream). Checked while decoding: no second pass.
   */
  malformed: string | undefined;
  /** The pseudo-headers of the last block, as PSEUDO_BITS. */
  pseudo = 0;

  constructor(limit = 4096) {
    this.limit = limit;
    this.maxSize = limit;
  }

  /**
   * Decodes one complete header block. `maxListSize` bounds the decoded size
   * (RFC 9113 §6.5.2: name + value + 32 per field), counted field by field
   * before the field is added, so a block of references to one large table
   * entry (an "HPACK bomb") costs at most that much work.
   */
  decode(buf: Buffer, maxListSize = Number.POSITIVE_INFINITY): HeaderMap {
    const out: HeaderMap = {};
    const pos = { i: 0 };
    const end = buf.length;
    let listSize = 0;
    let regular = false;
    let pseudo = 0;
    this.malformed = undefined;
    while (pos.i < end) {
      const b = buf[pos.i]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        const idx = readInt(buf, pos, 7);
        [name, value] = this.lookup(idx);
      } else if (b & 0x40) {
        const idx = readInt(buf, pos, 6);
        name = idx === 0 ? this.literalName(buf, pos) : this.lookup(idx)[0];
        value = readString(buf, pos);
        this.insert(name, value);
      } else if (b & 0x20) {
        // Only at the start of a block (RFC 7541 §4.2).
        if (listSize > 0) throw new HpackError("HPACK_TABLE_SIZE", "dynamic table size update after a header field");
        const size = readInt(buf, pos, 5);
        if (size > this.limit)
          throw new HpackError("HPACK_TABLE_SIZE", `dynamic table size ${size} above the ${this.limit} allowed`);
        this.maxSize = size;
        this.evict();
        continue;
      } else {
        const idx = readInt(buf, pos, 4); // without indexing (0000) or never indexed (0001)
        name = idx === 0 ? this.literalName(buf, pos) : this.lookup(idx)[0];
        value = readString(buf, pos);
      }
      if (name.charCodeAt(0) === 58 /* ":" */) {
        const bit = PSEUDO_BITS[name] ?? 0;
        if (regular || bit === 0 || pseudo & bit || (bit === 4 && value === ""))
          this.malformed ??= `pseudo-header ${name} unknown, repeated, empty or after a regular header`;
        pseudo |= bit;
      } else {
        regular = true;
        const l = name.length;
        if (l === 2 || l === 7 || l === 10 || l === 16 || l === 17) this.malformed ??= fieldProblem(name, value);
      }
      listSize += name.length + value.length + 32;
      if (listSize > maxListSize)
        throw new HpackError(
          "HPACK_HEADER_LIST_TOO_LARGE",
          `header list larger than the ${maxListSize} bytes allowed (SETTINGS_MAX_HEADER_LIST_SIZE)`,
          { maxListSize },
        );
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [prev, value];
    }
    this.pseudo = pseudo;
    return out;
  }

  /** A literal header name; table names were checked when they were literals. */
  private literalName(buf: Buffer, pos: { i: number }): string {
    const name = readString(buf, pos);
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c >= 65 && c <= 90) {
        this.malformed ??= `header name ${JSON.stringify(name)} has uppercase letters`;
        break;
      }
    }
    return name;
  }

  private lookup(idx: number): readonly [string, string] {
    if (idx >= 1 && idx <= STATIC_COUNT) return STATIC[idx]!;
    const e = this.entries[idx - STATIC_COUNT - 1];
    if (!e) throw new HpackError("HPACK_INDEX_INVALID", `header index ${idx} out of range`);
    return e;
  }

  private insert(name: string, value: string): void {
    const s = name.length + value.length + 32;
    this.entries.unshift([name, value]);
    this.size += s;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize && this.entries.length > 0) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

function readInt(buf: Buffer, pos: { i: number }, prefix: number): number {
  const max = (1 << prefix) - 1;
  let v = buf[pos.i++]! & max;
  if (v < max) return v;
  let shift = 0;
  for (;;) {
    if (pos.i >= buf.length) throw new HpackError("HPACK_TRUNCATED", "truncated integer in header block");
    const b = buf[pos.i++]!;
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return v;
    if (shift > 28) throw new HpackError("HPACK_INTEGER_OVERFLOW", "integer too large in header block");
  }
}

function readString(buf: Buffer, pos: { i: number }): string {
  if (pos.i >= buf.length) throw new HpackError("HPACK_TRUNCATED", "truncated string in header block");
  const huff = (buf[pos.i]! & 0x80) !== 0;
  const len = readInt(buf, pos, 7);
  const start = pos.i;
  const end = start + len;
  if (end > buf.length) throw new HpackError("HPACK_TRUNCATED", "truncated string in header block");
  pos.i = end;
  if (!huff) return buf.toString("latin1", start, end);
  try {
    return huffmanDecode(buf, start, end);
  } catch (err) {
    throw new HpackError("HPACK_HUFFMAN_INVALID", (err as Error).message, {}, { cause: err });
  }
}

/** Appends an HPACK integer with an `prefix`-bit prefix; `first` holds the pattern bits above it. */
function writeInt(out: number[], first: number, prefix: number, v: number): void {
  const max = (1 << prefix) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function writeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  writeInt(out, 0, 7, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Encodes headers as literals without indexing (static name indexes where possible). */
export function encodeHeaders(headers: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const idx = STATIC_NAME.get(name);
    if (idx !== undefined) {
      writeInt(out, 0, 4, idx);
    } else {
      out.push(0);
      writeString(out, name);
    }
    writeString(out, value);
  }
  return Buffer.from(out);
}
