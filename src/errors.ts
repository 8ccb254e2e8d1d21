/**
 * The one error model: every error podplug raises is a {@link PodplugError}
 * (or a subclass an area adds facts to) with a stable `code` that callers and
 * tests match on; the message says what went wrong, where, and what to do.
 * This module is neutral: it imports nothing of podplug's, so every layer can
 * use it. The catalogue of codes is docs/errors.md.
 */
export type ErrorCode =
  // handshake line and negotiation
  | "HANDSHAKE_MALFORMED"
  | "HANDSHAKE_CORE_VERSION"
  | "HANDSHAKE_APP_VERSION"
  | "HANDSHAKE_NETWORK"
  | "HANDSHAKE_PROTOCOL"
  | "HANDSHAKE_CERT"
  | "HANDSHAKE_TIMEOUT"
  | "MULTIPLEX_UNSUPPORTED"
  | "PLUGIN_EXITED"
  // environment and configuration
  | "ENV_INVALID"
  | "COOKIE_MISMATCH"
  | "CONFIG_INVALID"
  // sockets
  | "SOCKET_PATH_TOO_LONG"
  | "SOCKET_IN_USE"
  | "SOCKET_NOT_FOUND"
  // broker
  | "BROKER_ID_INVALID"
  | "BROKER_ID_IN_USE"
  | "BROKER_TIMEOUT"
  | "BROKER_CLOSED"
  // host client
  | "PLUGIN_UNKNOWN"
  | "CLIENT_CLOSED"
  | "UNAVAILABLE"
  | "MESSAGE_TOO_LARGE"
  // manifests and the local runtime
  | "MANIFEST_INVALID"
  | "MANIFEST_UNSUPPORTED"
  | "MANIFEST_DUPLICATE"
  | "MANIFEST_NO_MATCH"
  | "MANIFEST_NO_HOST";

/**
 * An error raised by podplug, with a machine-readable {@link ErrorCode}. An
 * area with codes of its own (the operator's `OPERATOR_*`, `KUBE_*`, ...)
 * subclasses it with its own code union as `C`.
 */
export class PodplugError<C extends string = ErrorCode> extends Error {
  /** Stable identifier of the failure; match on this, not on the message. */
  readonly code: C;
  /** Extra facts (paths, versions, stderr tail) for logs and diagnostics. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: C, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "PodplugError";
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a {@link PodplugError}, optionally of the given code. */
export function isPodplugError(err: unknown, code?: string): err is PodplugError<string> {
  return err instanceof PodplugError && (code === undefined || err.code === code);
}
