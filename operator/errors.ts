/** Error codes of the operator; tests match on them. */
export type OperatorErrorCode =
  | "PODPLUG_OPERATOR_BAD_FLAG"
  | "PODPLUG_KUBE_API"
  | "PODPLUG_KUBE_UNREACHABLE"
  | "PODPLUG_KUBE_BAD_RESPONSE"
  | "PODPLUG_RECONCILE_INJECT";

/** An operator failure: what went wrong, where, and what to do. */
export class OperatorError extends Error {
  readonly code: OperatorErrorCode;
  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OperatorError";
    this.code = code;
  }
}

/** A non-2xx answer of the apiserver, with its HTTP status and Status reason. */
export class KubeApiError extends OperatorError {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super("PODPLUG_KUBE_API", `${method} ${path}: HTTP ${status} ${reason}: ${message}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

/** True for errors worth retrying as they are (apiserver gone, overloaded, conflict). */
export function isRetriable(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.status === 409 || err.status === 429 || err.status >= 500;
  return err instanceof OperatorError && err.code === "PODPLUG_KUBE_UNREACHABLE";
}
