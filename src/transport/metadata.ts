/**
 * grpc-js Metadata to and from HTTP/2 header blocks. Transport headers
 * (content-type, te, grpc-status, ...) never become metadata, so the common
 * response (content-type only) costs one empty Metadata and no key checks.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { Metadata } from "@grpc/grpc-js";

/** Headers owned by the gRPC protocol itself, never surfaced as metadata. */
const RESERVED = new Set([
  "content-type",
  "te",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin-reserved",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "content-length",
  "date",
]);

/** Builds a Metadata from a received header block (pseudo and reserved headers left out). */
export function metadataFromHeaders(headers: IncomingHttpHeaders): Metadata {
  const md = new Metadata();
  for (const key in headers) {
    if (key.charCodeAt(0) === 0x3a || RESERVED.has(key)) continue;
    const v = headers[key];
    if (v === undefined) continue;
    const bin = key.endsWith("-bin");
    try {
      if (Array.isArray(v)) {
        for (const one of v) md.add(key, bin ? Buffer.from(one, "base64") : one);
      } else if (bin) {
        // Several binary values may arrive comma-joined in one field.
        for (const one of v.split(",")) md.add(key, Buffer.from(one.trim(), "base64"));
      } else {
        md.add(key, v);
      }
    } catch {
      // An invalid key or value from the peer is dropped, as grpc-js does (it logs).
    }
  }
  return md;
}

/** Copies `md` into `headers` (binary values base64, repeated keys as arrays). */
export function addMetadataToHeaders(headers: OutgoingHttpHeaders, md: Metadata | null | undefined): void {
  if (!md) return;
  const h = md.toHttp2Headers();
  for (const key in h) headers[key] = h[key];
}
