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
  | "TRANSPORT_H2_PROTOCOL"
  | "TRANSPORT_H2_FRAME_SIZE"
  | "TRANSPORT_H2_FLOW_CONTROL"
  | "TRANSPORT_H2_COMPRESSION"
  | "TRANSPORT_H2_HEADER_LIST_TOO_LARGE"
  | "TRANSPORT_H2_FLOOD";

/** An error of the transport, with a machine-readable {@link TransportErrorCode}. */
export class TransportError extends PodplugError<TransportErrorCode> {}

/** The socket path of a `unix://path` or `unix:path` target (a bare path passes through). */
export function unixPath(target: string): string {
  let p = target;
  if (p.startsWith("unix://")) p = p.slice(7);
  else if (p.startsWith("unix:")) p = p.slice(5);
  if (p.length === 0 || p.includes("\0")) {
    throw new TransportError(
      "TRANSPORT_TARGET_INVALID",
      `not a Unix socket target: ${JSON.stringify(target)}; expected unix:///absolute/path.`,
    );
  }
  return p;
}
