/** Error codes the injection function throws with; tests match on them. */
export type InjectErrorCode =
  | "PODPLUG_INJECT_INVALID_TEMPLATE"
  | "PODPLUG_INJECT_INVALID_PLUGIN"
  | "PODPLUG_INJECT_DUPLICATE_PLUGIN"
  | "PODPLUG_INJECT_NAME_CONFLICT";

/** A template or Plugin the injection cannot use; `path` points at the bad field. */
export class InjectError extends Error {
  readonly code: InjectErrorCode;
  readonly path: string;
  constructor(code: InjectErrorCode, path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "InjectError";
    this.code = code;
    this.path = path;
  }
}
