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
export class LocalError extends PodplugError<LocalErrorCode> {}
