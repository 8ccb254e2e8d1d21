/**
 * gRPC length-prefixed messages: one flag byte (compressed or not), a
 * big-endian uint32 length, the payload. Both sides of the transport
 * encode and decode messages here (HTTP/2 frames are h2/'s business).
 */

/** Bytes before each message's payload. */
export const MESSAGE_HEADER_BYTES = 5;

/**
 * Payloads from this size are sent after a header of their own instead of
 * copied behind it: the copy would cost more than the extra 5-byte write, and
 * a peer that stops reading would hold a second copy of every large message.
 */
export const SEPARATE_PAYLOAD_BYTES = 16 * 1024;

function writeHeader(out: Buffer, n: number): void {
  // Byte stores: Buffer's writeUInt32BE validates its arguments on every call.
  out[0] = 0;
  out[1] = n >>> 24;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 8) & 0xff;
  out[4] = n & 0xff;
}

/** Frames one serialized message (uncompressed). One allocation: header and payload together. */
export function encodeMessage(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_HEADER_BYTES + payload.length);
  writeHeader(out, payload.length);
  out.set(payload, MESSAGE_HEADER_BYTES);
  return out;
}

/** The 5-byte header alone, for a payload of {@link SEPARATE_PAYLOAD_BYTES} or more written after it as it is (so it must not change once written). */
export function messageHeader(n: number): Buffer {
  const head = Buffer.allocUnsafe(MESSAGE_HEADER_BYTES);
  writeHeader(head, n);
  return head;
}

/** Why a {@link MessageDecoder} gave up. */
export type MessageDecodeFailure = "too-large" | "bad-flag";

/** Receives one payload; `compressed` is the message's flag (the peer's grpc-encoding applies). */
export type MessageSink = (payload: Buffer, compressed: boolean) => void;

/**
 * Splits a byte stream into messages. Feeds arrive as HTTP/2 DATA chunks; a
 * message may span chunks or share one with others. The common case (one
 * whole message in one chunk) costs a `subarray`, no copy.
 */
export class MessageDecoder {
  /** Largest payload accepted; -1 for no limit. */
  maxLength: number;
  /** Payload length of the message being assembled, or -1 while reading its header. */
  private need = -1;
  private compressed = false;
  /** Made only when a header straddles two chunks (rare): most calls allocate nothing here. */
  private header: Buffer | undefined;
  private headerFill = 0;
  private parts: Buffer[] | undefined;
  private filled = 0;
  /** Set once the stream broke a rule; later input is ignored. */
  failure: MessageDecodeFailure | undefined;
  /** Length of the message that broke the size limit. */
  failedLength = 0;

  constructor(maxLength: number) {
    this.maxLength = maxLength;
  }

  /** Feeds a chunk; calls `onMessage` for each complete payload. Returns false once failed. */
  push(chunk: Buffer, onMessage: MessageSink): boolean {
    if (this.failure) return false;
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      if (this.need < 0) {
        // Fast path: a whole header in this chunk and nothing half-read before it.
        if (this.headerFill === 0 && len - off >= MESSAGE_HEADER_BYTES) {
          if (!this.startMessage(chunk[off]!, chunk.readUInt32BE(off + 1))) return false;
          off += MESSAGE_HEADER_BYTES;
        } else {
          const header = (this.header ??= Buffer.alloc(MESSAGE_HEADER_BYTES));
          const n = Math.min(MESSAGE_HEADER_BYTES - this.headerFill, len - off);
          chunk.copy(header, this.headerFill, off, off + n);
          this.headerFill += n;
          off += n;
          if (this.headerFill < MESSAGE_HEADER_BYTES) break;
          this.headerFill = 0;
          if (!this.startMessage(header[0]!, header.readUInt32BE(1))) return false;
        }
        if (this.need === 0) {
          this.need = -1;
          onMessage(EMPTY, this.compressed);
          continue;
        }
      }
      const avail = len - off;
      if (this.filled === 0 && avail >= this.need) {
        const msg = chunk.subarray(off, off + this.need);
        off += this.need;
        this.need = -1;
        onMessage(msg, this.compressed);
        continue;
      }
      const take = Math.min(this.need - this.filled, avail);
      const parts = (this.parts ??= []);
      parts.push(chunk.subarray(off, off + take));
      this.filled += take;
      off += take;
      if (this.filled === this.need) {
        const msg = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.filled);
        this.parts = undefined;
        this.filled = 0;
        this.need = -1;
        onMessage(msg, this.compressed);
      }
    }
    return true;
  }

  /** True when no message is half-received (a stream may end here cleanly). */
  get idle(): boolean {
    return this.need < 0 && this.headerFill === 0;
  }

  private startMessage(flag: number, length: number): boolean {
    if (flag > 1) {
      this.failure = "bad-flag";
      return false;
    }
    this.compressed = flag === 1;
    // A compressed payload is checked again once inflated; its wire size counts here too.
    if (this.maxLength >= 0 && length > this.maxLength) {
      this.failure = "too-large";
      this.failedLength = length;
      return false;
    }
    this.need = length;
    return true;
  }
}

const EMPTY = Buffer.alloc(0);
