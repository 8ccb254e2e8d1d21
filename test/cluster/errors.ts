/** Error codes of the test cluster harness; tests match on them. */
export type HarnessErrorCode =
  | "PODPLUG_CLUSTER_BINARY_MISSING"
  | "PODPLUG_CLUSTER_START_FAILED"
  | "PODPLUG_CLUSTER_NOT_READY"
  | "PODPLUG_CLUSTER_COMMAND_FAILED"
  | "PODPLUG_CLUSTER_VERSION_MISSING";

/** A harness failure: what went wrong, where, and what to do. */
export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string) {
    super(message);
    this.name = "HarnessError";
    this.code = code;
  }
}
