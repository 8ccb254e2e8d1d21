/**
 * Inflating compressed messages (gzip, deflate) a peer sends with the
 * grpc-encoding header. This side never compresses and never advertises
 * grpc-accept-encoding, so conforming peers rarely do; when one does anyway,
 * its messages still arrive.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { status } from "@grpc/grpc-js";

/** A message that could not be inflated, as the status to end the call with. */
export interface InflateFailure {
  code: status;
  details: string;
}

/**
 * Inflates `payload` sent under `encoding`; at most `max` bytes out (-1: no limit).
 * `unsupported` is the code for an unknown encoding (a server answers UNIMPLEMENTED, a client INTERNAL).
 */
export function inflate(
  payload: Buffer,
  encoding: string | string[] | undefined,
  max: number,
  unsupported: status,
): Buffer | InflateFailure {
  const enc = Array.isArray(encoding) ? encoding[0] : encoding;
  const opts = max >= 0 ? { maxOutputLength: Math.max(1, max) } : {};
  try {
    if (enc === "gzip") return gunzipSync(payload, opts);
    if (enc === "deflate") return inflateSync(payload, opts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      return {
        code: status.RESOURCE_EXHAUSTED,
        details: `Received message larger than max (after decompression) (max ${max})`,
      };
    }
    return { code: status.INTERNAL, details: `Failed to decompress a ${enc} message: ${(err as Error).message}` };
  }
  return {
    code: unsupported,
    details: `Received a compressed message with unsupported grpc-encoding ${JSON.stringify(enc ?? "identity")}`,
  };
}
