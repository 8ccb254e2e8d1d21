import { PodplugError } from "../errors.ts";

/** Error codes the injection function throws with; tests match on them. */
export type InjectErrorCode =
  | "INJECT_INVALID_TEMPLATE"
  | "INJECT_INVALID_PLUGIN"
  | "INJECT_DUPLICATE_PLUGIN"
  | "INJECT_NAME_CONFLICT"
  | "INJECT_VERSION_MISMATCH";

/** A template or Plugin the injection cannot use; `path` points at the bad field (the message starts with it). */
export class InjectError extends PodplugError<InjectErrorCode> {
  readonly path: string;
  constructor(
    code: InjectErrorCode,
    message: string,
    details: { path: string } & Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(code, `${details.path}: ${message}`, details, options);
    this.path = details.path;
  }
}
