/**
 * What makes an HTTP/2 header block malformed (RFC 9113 §8.2-8.3). The HPACK
 * decoder checks each field as it decodes it (hpack.ts) and records the
 * pseudo-headers it saw; a server resets a malformed request's stream with
 * PROTOCOL_ERROR before it reaches a call.
 */

/** One bit per pseudo-header. */
export const PSEUDO_BITS: Readonly<Record<string, number>> = Object.assign(Object.create(null), {
  ":method": 1,
  ":scheme": 2,
  ":path": 4,
  ":authority": 8,
  ":status": 16,
});
const REQUIRED = 1 | 2 | 4;

/** A regular field HTTP/2 forbids (§8.2.2): HTTP/1.1 connection management, or `te` other than `trailers`. */
export function fieldProblem(name: string, value: string): string | undefined {
  switch (name) {
    case "te":
      return value === "trailers" ? undefined : `te: ${value} (only "trailers" is allowed)`;
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "transfer-encoding":
    case "upgrade":
      return `connection-specific header ${name}`;
    default:
      return undefined;
  }
}

/** Why a request's block is malformed: a field's problem, or pseudo-headers missing or a response's. */
export function requestProblem(pseudo: number, malformed: string | undefined): string | undefined {
  if (malformed !== undefined) return malformed;
  if ((pseudo & REQUIRED) !== REQUIRED) return "a request without :method, :scheme or :path";
  if (pseudo & 16) return "a request with :status";
  return undefined;
}

/** Why a trailer block is malformed: pseudo-headers are not allowed in trailers (§8.1). */
export function trailerProblem(pseudo: number, malformed: string | undefined): string | undefined {
  if (malformed !== undefined) return malformed;
  return pseudo === 0 ? undefined : "pseudo-headers in trailers";
}
