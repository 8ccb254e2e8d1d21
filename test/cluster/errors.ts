/** Errors of the test cluster harness: a {@link PodplugError} subclass with `CLUSTER_*` codes tests match on. */
import { PodplugError } from "../../src/errors.ts";

/** Error codes of the test cluster harness. */
export type HarnessErrorCode =
  | "CLUSTER_BINARY_MISSING"
  | "CLUSTER_START_FAILED"
  | "CLUSTER_NOT_READY"
  | "CLUSTER_COMMAND_FAILED"
  | "CLUSTER_VERSION_MISSING";

/** A harness failure: what went wrong, where, and what to do. */
export class HarnessError extends PodplugError<HarnessErrorCode> {
  constructor(code: HarnessErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
    this.name = "HarnessError";
  }
}
