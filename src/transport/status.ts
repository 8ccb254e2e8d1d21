/**
 * gRPC-over-HTTP/2 status facts: grpc-message percent-encoding, HTTP status
 * and RST_STREAM code mapping, grpc-timeout formatting and parsing
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 */
import { constants as h2 } from "node:http2";
import { status } from "@grpc/grpc-js";

const HEX = "0123456789ABCDEF";

/** Percent-encodes a grpc-message value: bytes outside 0x20–0x7E and `%` become `%XX` of their UTF-8. */
export function encodeGrpcMessage(msg: string): string {
  let plain = true;
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return msg;
  let out = "";
  for (const b of Buffer.from(msg, "utf8")) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${HEX[b >> 4]}${HEX[b & 15]}` : String.fromCharCode(b);
  }
  return out;
}

/** Decodes a grpc-message value; malformed escapes are kept as they are (the spec asks for leniency). */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes("%")) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < raw.length && isHex(raw.charCodeAt(i + 1)) && isHex(raw.charCodeAt(i + 2))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(raw[i]!, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The gRPC code for a response whose HTTP status is not 200 (gRPC's http-grpc-status-mapping). */
export function httpStatusToGrpc(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

/** The gRPC code for a stream reset by the peer without a status. */
export function rstCodeToGrpc(code: number): status {
  switch (code) {
    case h2.NGHTTP2_NO_ERROR:
      // A reset after a complete response means the server gave up on reading.
      return status.INTERNAL;
    case h2.NGHTTP2_REFUSED_STREAM:
      return status.UNAVAILABLE;
    case h2.NGHTTP2_CANCEL:
      return status.CANCELLED;
    case h2.NGHTTP2_ENHANCE_YOUR_CALM:
      return status.RESOURCE_EXHAUSTED;
    case h2.NGHTTP2_INADEQUATE_SECURITY:
      return status.PERMISSION_DENIED;
    default:
      return status.INTERNAL;
  }
}

/** A valid gRPC code from a peer's `grpc-status` value (anything else is UNKNOWN). */
export function parseGrpcStatus(v: string | string[] | undefined): status {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return status.UNKNOWN;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 && n <= 16 ? (n as status) : status.UNKNOWN;
}

const UNITS: [number, string][] = [
  [1, "m"],
  [1000, "S"],
  [60_000, "M"],
  [3_600_000, "H"],
];

/** The grpc-timeout value for `ms` milliseconds (at most 8 digits, as the spec demands). */
export function formatTimeout(ms: number): string {
  const t = Math.max(1, Math.ceil(ms));
  for (const [size, unit] of UNITS) {
    const v = Math.ceil(t / size);
    if (v < 1e8) return `${v}${unit}`;
  }
  return "99999999H";
}

const TIMEOUT_RE = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Milliseconds of a grpc-timeout header, or undefined when absent or malformed. */
export function parseTimeout(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const m = TIMEOUT_RE.exec(s);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
