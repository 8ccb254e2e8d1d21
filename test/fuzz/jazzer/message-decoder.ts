/**
 * jazzer.js target: the gRPC message deframer (MessageDecoder, limit 256
 * bytes). Input: byte 0 the chunk size (0: one piece), the rest the stream of
 * length-prefixed messages. Property: fed in chunks, it yields exactly the
 * messages a whole-stream reading of the gRPC framing gives, and fails only
 * with "bad-flag" or "too-large" where that reading does; what it holds of a
 * half-read message stays within the limit.
 */
import { MessageDecoder } from "../../../src/transport/message-framing.ts";
import { chunks, expect } from "./crash.ts";

const MAX = 256;

/** The gRPC framing read from the whole stream at once: the oracle. */
function reference(bytes: Buffer): { messages: Buffer[]; failure?: "bad-flag" | "too-large" } {
  const messages: Buffer[] = [];
  let off = 0;
  while (bytes.length - off >= 5) {
    const flag = bytes[off]!;
    const len = bytes.readUInt32BE(off + 1);
    if (flag > 1) return { messages, failure: "bad-flag" };
    if (len > MAX) return { messages, failure: "too-large" };
    if (bytes.length - off - 5 < len) break;
    messages.push(bytes.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return { messages };
}

export function fuzz(data: Buffer): void {
  const bytes = data.subarray(1);
  const want = reference(bytes);
  const d = new MessageDecoder(MAX);
  const got: Buffer[] = [];
  for (const c of chunks(data[0] ?? 0, bytes)) {
    if (!d.push(c, (p) => got.push(Buffer.from(p)))) break;
    // What it holds of a half-read message stays within the limit.
    const held = (d as unknown as { filled: number }).filled;
    expect(held <= MAX, () => `holds ${held} bytes of a message`);
  }
  expect(got.length === want.messages.length, () => `${got.length} messages, ${want.messages.length} expected`);
  for (let i = 0; i < got.length; i++) expect(got[i]!.equals(want.messages[i]!), () => `message ${i} differs`);
  expect(d.failure === want.failure, () => `failure ${d.failure}, ${want.failure} expected`);
}
