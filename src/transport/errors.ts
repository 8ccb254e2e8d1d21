/**
 * Errors the transport raises outside a call (bad targets, bad options,
 * bind failures). Failures inside a call surface as gRPC statuses instead.
 */
import { PodplugError } from "../errors.ts";

/** Stable identifiers of transport failures. */
export type TransportErrorCode =
  | "TRANSPORT_TARGET_INVALID"
  | "TRANSPORT_BIND_FAILED"
  | "TRANSPORT_SERVER_STARTED"
  | "TRANSPORT_SERVICE_INVALID"
  | "TRANSPORT_CREDENTIALS_INVALID"
  | "TRANSPORT_KEEPALIVE_TIMEOUT"
  | "TRANSPORT_H2_PROTOCOL"
  | "TRANSPORT_H2_FRAME_SIZE"
  | "TRANSPORT_H2_FLOW_CONTROL"
  | "TRANSPORT_H2_COMPRESSION"
  | "TRANSPORT_H2_HEADER_LIST_TOO_LARGE"
  | "TRANSPORT_H2_FLOOD"
  | "TRANSPORT_H2_PAUSED_LIMIT"
  | "TRANSPORT_H2_SEND_QUEUE_FULL"
  | "TRANSPORT_TOO_MANY_CONNECTIONS"
  | "TRANSPORT_OPTION_INVALID";

/** An error of the transport, with a machine-readable {@link TransportErrorCode}. */
export class TransportError extends PodplugError<TransportErrorCode> {}

/** A network address rather than a path: `host:port`, `[::1]:port`, or a gRPC `dns:`/`ipv4:`/`ipv6:` target. */
const NETWORK_TARGET = /^(?:dns:|ipv4:|ipv6:|\[[^\]]*\]:\d+$|[^/]*:\d+$)/;

/**
 * The socket path of a `unix://path` or `unix:path` target (a bare path passes
 * through). A network address is refused, not taken for a file name: the
 * transport binds and dials Unix sockets only.
 */
export function unixPath(target: string): string {
  let p = target;
  if (p.startsWith("unix://")) p = p.slice(7);
  else if (p.startsWith("unix:")) p = p.slice(5);
  else if (NETWORK_TARGET.test(p))
    throw new TransportError(
      "TRANSPORT_TARGET_INVALID",
      `${JSON.stringify(target)} is a network address; podplug's transport serves and dials Unix sockets only: give unix:///absolute/path.`,
    );
  if (p.length === 0 || p.includes("\0")) {
    throw new TransportError(
      "TRANSPORT_TARGET_INVALID",
      `not a Unix socket target: ${JSON.stringify(target)}; expected unix:///absolute/path.`,
    );
  }
  return p;
}
