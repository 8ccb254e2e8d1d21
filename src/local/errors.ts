/**
 * The local runtime's own failures (manifest errors keep the public
 * `MANIFEST_*` codes): each names what to do.
 */
import { PodplugError } from "../errors.ts";

/** Codes of {@link LocalError}. */
export type LocalErrorCode =
  /** The runtime's /metrics port is taken (--metrics-port). */
  | "LOCAL_METRICS_PORT_IN_USE"
  /** The runtime's /metrics could not listen for another reason. */
  | "LOCAL_METRICS_LISTEN"
  /** `--isolation uid` was asked for and cannot be had. */
  | "LOCAL_ISOLATION_UNAVAILABLE";

/** A failure of `podplug run` itself. */
export class LocalError extends PodplugError {
  constructor(code: LocalErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    // Until the base class takes an area's code type (PodplugError<C>), the area code rides as the base's.
    super(code as unknown as ConstructorParameters<typeof PodplugError>[0], message, details, options);
    this.name = "LocalError";
  }
}
