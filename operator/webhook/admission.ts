/**
 * The AdmissionReview boundary (admission.k8s.io/v1): the request body is
 * checked field by field before anything reads it, and every outcome is an
 * AdmissionReview response or a coded WebhookError (the server answers
 * those with an HTTP error, which the apiserver treats by `failurePolicy`).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { InjectError } from "../../src/inject/errors.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { OperatorError } from "../errors.ts";
import { injectPod, type PodInjectionOptions } from "./pod-injection.ts";

/** A request the webhook cannot answer: HTTP `status`, a code tests match on. */
export class WebhookError extends OperatorError {
  readonly status: number;
  constructor(
    code: "WEBHOOK_BAD_REQUEST" | "WEBHOOK_TOO_LARGE" | "WEBHOOK_NOT_READY",
    status: number,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
    this.name = "WebhookError";
    this.status = status;
  }
}

/** The parts of an AdmissionRequest the webhook reads. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  namespace: string;
  operation: string;
  object: V1Pod | undefined;
}

/** The AdmissionResponse the webhook sends. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

const ADMISSION_API = "admission.k8s.io/v1";

const bad = (message: string, field: string): WebhookError =>
  new WebhookError("WEBHOOK_BAD_REQUEST", 400, `not an ${ADMISSION_API} AdmissionReview: ${message}`, { field });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and checks an AdmissionReview body; throws WEBHOOK_BAD_REQUEST naming the field. */
export function parseReview(body: string): AdmissionRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw bad(`the body is not JSON (${(err as Error).message})`, "");
  }
  if (!isObject(doc)) throw bad("the body is not a JSON object", "");
  if (doc.apiVersion !== ADMISSION_API || doc.kind !== "AdmissionReview")
    throw bad(
      `apiVersion/kind is ${JSON.stringify(doc.apiVersion)}/${JSON.stringify(doc.kind)}: the webhook speaks ${ADMISSION_API} only (admissionReviewVersions: [v1])`,
      "apiVersion",
    );
  const r = doc.request;
  if (!isObject(r)) throw bad("it has no request", "request");
  if (typeof r.uid !== "string" || r.uid === "") throw bad("request.uid is missing", "request.uid");
  const k = r.kind;
  if (!isObject(k) || typeof k.kind !== "string" || typeof k.version !== "string" || typeof k.group !== "string")
    throw bad("request.kind is not {group, version, kind}", "request.kind");
  if (typeof r.operation !== "string") throw bad("request.operation is missing", "request.operation");
  const namespace = typeof r.namespace === "string" ? r.namespace : "";
  const object = r.object;
  if (object !== undefined && object !== null && !isObject(object))
    throw bad("request.object is not an object", "request.object");
  return {
    uid: r.uid,
    kind: { group: k.group, version: k.version, kind: k.kind },
    namespace,
    operation: r.operation,
    object: (object ?? undefined) as V1Pod | undefined,
  };
}

/** What the webhook's answer was, for logs and metrics. */
export type AdmissionOutcome = "injected" | "skipped" | "opted-out" | "ignored-kind" | "refused";

/**
 * Answers one request: a Pod CREATE gets the injection of the Plugins that
 * select it as a JSON Patch; anything else is allowed untouched, with a
 * warning when it should not have been sent (a wrong kind or operation means
 * a misconfigured MutatingWebhookConfiguration). A Pod the injection refuses
 * (a host container named like a sidecar, an invalid Plugin) is denied with
 * the injection's message and code: admitting it would start a host without
 * its plugin.
 */
export function admit(
  req: AdmissionRequest,
  plugins: Iterable<Readonly<Plugin>>,
  opts: PodInjectionOptions,
): { response: AdmissionResponse; outcome: AdmissionOutcome; plugins: string[] } {
  const { uid } = req;
  if (req.kind.group !== "" || req.kind.version !== "v1" || req.kind.kind !== "Pod" || req.operation !== "CREATE") {
    const what = `${req.operation} of ${req.kind.group || "core"}/${req.kind.version} ${req.kind.kind}`;
    return {
      response: {
        uid,
        allowed: true,
        warnings: [`podplug's webhook injects only at Pod CREATE; it let a ${what} through unchanged`],
      },
      outcome: "ignored-kind",
      plugins: [],
    };
  }
  const pod = req.object;
  if (!pod || !isObject(pod.spec) || !Array.isArray(pod.spec.containers))
    throw bad("request.object is not a Pod with spec.containers", "request.object.spec.containers");
  const namespace = req.namespace || pod.metadata?.namespace || "default";
  try {
    const r = injectPod(pod, namespace, plugins, opts);
    const warnings = r.refused.map((m) => `podplug did not inject: ${m}`);
    if (!r.injected)
      return {
        response: { uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) },
        outcome: r.reason === "opted-out" ? "opted-out" : "skipped",
        plugins: [],
      };
    return {
      response: {
        uid,
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify(r.patch)).toString("base64"),
        ...(warnings.length > 0 ? { warnings } : {}),
      },
      outcome: "injected",
      plugins: r.plugins,
    };
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    return {
      response: {
        uid,
        allowed: false,
        status: {
          code: 422,
          reason: "Invalid",
          message: `podplug cannot inject this Pod: ${err.message} [${err.code}]`,
        },
      },
      outcome: "refused",
      plugins: [],
    };
  }
}

/** The AdmissionReview that carries `response`. */
export function reviewResponse(response: AdmissionResponse): Record<string, unknown> {
  return { apiVersion: ADMISSION_API, kind: "AdmissionReview", response };
}
