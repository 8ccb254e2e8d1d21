/**
 * What makes an HTTP/2 request malformed (RFC 9113 §8.2-8.3), checked by a
 * server before a stream reaches a call: a malformed request is a stream
 * error (RST_STREAM PROTOCOL_ERROR), never a call.
 */
import type { HeaderMap } from "./hpack.ts";

/** Headers HTTP/2 forbids (§8.2.2): HTTP/1.1 connection management. */
const CONNECTION_SPECIFIC = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":path", ":authority"]);

/** Why a request's header block is malformed, or undefined when it is well-formed. */
export function requestProblem(h: HeaderMap): string | undefined {
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* ":" */) {
      if (!REQUEST_PSEUDO.has(name)) return `pseudo-header ${name} is not a request's`;
      if (Array.isArray(h[name])) return `pseudo-header ${name} appears twice`;
    }
  }
  const method = h[":method"];
  const path = h[":path"];
  if (method === undefined) return "no :method";
  if (h[":scheme"] === undefined) return "no :scheme";
  if (path === undefined) return "no :path";
  if (path === "") return "an empty :path";
  for (const c of CONNECTION_SPECIFIC) if (h[c] !== undefined) return `connection-specific header ${c}`;
  const te = h.te;
  if (te !== undefined && te !== "trailers") return `te: ${String(te)} (only "trailers" is allowed)`;
  return undefined;
}

/** Why a trailer block is malformed: pseudo-headers are not allowed in trailers (§8.1). */
export function trailerProblem(h: HeaderMap): string | undefined {
  for (const name in h) if (name.charCodeAt(0) === 58) return `pseudo-header ${name} in trailers`;
  return undefined;
}
