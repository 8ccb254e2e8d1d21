/**
 * The operator's errors, subclasses of the one base class {@link PodplugError}.
 * Codes carry their area: `OPERATOR_*` (flags, start-up), `KUBE_*` (talking to
 * the apiserver), `RECONCILE_*` (a reconcile that cannot succeed as things are).
 */
import { PodplugError } from "../src/errors.ts";

/** Error codes of the operator; tests match on them. */
export type OperatorErrorCode =
  | "OPERATOR_BAD_FLAG"
  | "OPERATOR_LEASE_NAMESPACE"
  | "KUBE_CONFIG"
  | "KUBE_API"
  | "KUBE_UNREACHABLE"
  | "KUBE_BAD_RESPONSE"
  | "RECONCILE_REFUSED"
  | "WEBHOOK_BAD_REQUEST"
  | "WEBHOOK_TOO_LARGE"
  | "WEBHOOK_NOT_READY"
  | "WEBHOOK_TLS";

/** An operator failure: what went wrong, where, and what to do. */
export class OperatorError extends PodplugError<OperatorErrorCode> {
  constructor(code: OperatorErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(code, message, details, options);
    this.name = "OperatorError";
  }
}

/** A non-2xx answer of the apiserver, with its HTTP status and Status reason. */
export class KubeApiError extends OperatorError {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super("KUBE_API", `${method} ${path}: HTTP ${status} ${reason}: ${message}`, { method, path, status, reason });
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

/**
 * A reconcile that cannot succeed until the object changes (a spec the
 * injection refuses, an apply the apiserver answers 400/422): it is reported
 * and not retried, as controller-runtime's `reconcile.TerminalError` and
 * kube-rs's error policy that awaits a change. The next change of the object
 * queues it again.
 */
export class TerminalError extends OperatorError {
  constructor(message: string, options?: ErrorOptions) {
    super("RECONCILE_REFUSED", message, {}, options);
    this.name = "TerminalError";
  }
}

/** True for errors worth retrying as they are (apiserver gone, overloaded, conflict). */
export function isRetriable(err: unknown): boolean {
  if (err instanceof TerminalError) return false;
  if (err instanceof KubeApiError) return err.status === 409 || err.status === 429 || err.status >= 500;
  return err instanceof OperatorError && err.code === "KUBE_UNREACHABLE";
}
