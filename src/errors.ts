/**
 * The one error model: every error podplug raises is a {@link PodplugError}
 * (or a subclass an area adds facts to) with a stable `code` that callers and
 * tests match on; the message says what went wrong, where, and what to do.
 * This module is neutral: it imports nothing of podplug's, so every layer can
 * use it. The catalogue of codes is docs/errors.md.
 *
 * The codes below are the SDK's public ones: bare names users match, stable
 * across releases. Areas add internal codes under their own prefix
 * (`TRANSPORT_*`, `HPACK_*`, `INJECT_*`, `LOCAL_*`, ...) through subclasses.
 */
export type ErrorCode =
  // handshake line and negotiation
  | "HANDSHAKE_MALFORMED"
  | "HANDSHAKE_CORE_VERSION"
  | "HANDSHAKE_APP_VERSION"
  | "HANDSHAKE_COOKIE"
  | "HANDSHAKE_NETWORK"
  | "HANDSHAKE_PROTOCOL"
  | "HANDSHAKE_CERT"
  | "HANDSHAKE_TIMEOUT"
  | "MULTIPLEX_UNSUPPORTED"
  | "MULTIPLEX_PROTOCOL"
  | "MULTIPLEX_FLOOD"
  | "PLUGIN_LOG_RATE"
  | "PLUGIN_EXITED"
  | "CHECKSUM_MISMATCH"
  | "SECURE_CONFIG_INVALID"
  // environment and configuration
  | "ENV_INVALID"
  | "CONFIG_INVALID"
  | "NOT_INJECTED"
  // sockets
  | "SOCKET_PATH_TOO_LONG"
  | "SOCKET_IN_USE"
  | "SOCKET_NOT_FOUND"
  | "SOCKET_PERMISSION"
  | "SOCKET_GROUP_DENIED"
  | "PLUGIN_VERSION_MISMATCH"
  | "PLUGIN_VERSION_UNKNOWN"
  | "PLUGIN_REQUIRED_MISSING"
  | "RELOAD_TIMEOUT"
  // broker
  | "BROKER_ID_INVALID"
  | "BROKER_ID_IN_USE"
  | "BROKER_TIMEOUT"
  | "BROKER_CLOSED"
  | "BROKER_KNOCK_REFUSED"
  | "BROKER_FLOOD"
  // host client
  | "PLUGIN_UNKNOWN"
  | "CLIENT_CLOSED"
  | "PLUGIN_STOPPED"
  | "ATTACH_VERSION_UNKNOWN"
  | "REATTACH_INVALID"
  | "REATTACH_NOT_FOUND"
  | "REATTACH_PROCESS_MISMATCH"
  | "CONNECT_HOOK_FAILED"
  | "UNAVAILABLE"
  // manifests and the local runtime
  | "MANIFEST_INVALID"
  | "MANIFEST_UNSUPPORTED"
  | "MANIFEST_DUPLICATE"
  | "MANIFEST_NO_MATCH"
  | "MANIFEST_NO_HOST";

/**
 * An error raised by podplug, with a machine-readable code: one of the public
 * {@link ErrorCode}s, or (in a subclass, `C`) an area's own codes.
 */
export class PodplugError<C extends string = ErrorCode> extends Error {
  /** Stable identifier of the failure; match on this, not on the message. */
  readonly code: C;
  /** Extra facts (paths, versions, stderr tail) for logs and diagnostics. */
  readonly details: Readonly<Record<string, unknown>>;

  // NoInfer: `new PodplugError("TYPO", ...)` fails to compile instead of widening C.
  constructor(code: NoInfer<C>, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a {@link PodplugError} of any area (its `code` may be an area's own). */
export function isPodplugError(err: unknown): err is PodplugError<string>;
/** True when `err` is a {@link PodplugError} with this code (public codes complete in editors; areas' codes work too). */
export function isPodplugError<C extends ErrorCode | (string & {})>(err: unknown, code: C): err is PodplugError<C>;
export function isPodplugError(err: unknown, code?: string): boolean {
  return err instanceof PodplugError && (code === undefined || err.code === code);
}
