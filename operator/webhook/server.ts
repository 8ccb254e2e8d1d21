/**
 * The injection webhook's HTTPS server: POST /inject takes an AdmissionReview
 * and answers one. Every replica serves it (not only the leader), from its own
 * Plugin watch; until that watch has listed, it answers 503 so the apiserver
 * applies the failurePolicy instead of admitting a Pod without its sidecars.
 * Bodies are bounded (413 past the limit, read no further), slow clients are
 * cut off, and no request can crash the process: every failure is an HTTP
 * answer with the error's code.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { Logger } from "pino";
import { Histogram, type Registry } from "prom-client";
import { isPodplugError } from "../../src/errors.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { admit, parseReview, reviewResponse, WebhookError } from "./admission.ts";
import type { ServingMaterial } from "./tls.ts";

/** The path the webhook configuration's service or URL points at. */
export const INJECT_PATH = "/inject";

/** What the server needs. */
export interface WebhookServerOptions {
  host: string;
  port: number;
  /** Largest AdmissionReview accepted; the apiserver's own object limit is 3 MiB. */
  maxRequestBytes: number;
  launcherImage: string;
  /** Every Plugin the operator knows (all watched namespaces). */
  plugins: () => Iterable<Readonly<Plugin>>;
  /** True once the Plugin watch has listed. */
  ready: () => boolean;
  registry: Registry;
  log: Logger;
}

/** The webhook server, bound. */
export interface WebhookServer {
  server: Server;
  port: number;
  /** Serves `m` from the next TLS handshake on (rotation without a restart). */
  setCertificate(m: ServingMaterial): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = "application/json"): void {
  if (res.headersSent) return;
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) }).end(body);
}

function failure(res: ServerResponse, err: WebhookError): void {
  send(res, err.status, `${err.message} [${err.code}]\n`, "text/plain; charset=utf-8");
}

/** Reads the body up to `limit` bytes; rejects with WEBHOOK_TOO_LARGE past it. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      reject(tooLarge(declared, limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(tooLarge(size, limit));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const tooLarge = (size: number, limit: number): WebhookError =>
  new WebhookError(
    "WEBHOOK_TOO_LARGE",
    413,
    `the AdmissionReview has ${size} bytes, above the webhook's limit of ${limit} (--webhook-max-request-bytes)`,
    { size, limit },
  );

/** Starts the server with `tls`; resolves once it listens. */
export function startWebhookServer(opts: WebhookServerOptions, tls: ServingMaterial): Promise<WebhookServer> {
  const latency = new Histogram({
    name: "podplug_webhook_admission_duration_seconds",
    help: "Time from an AdmissionReview's last byte to its answer, by outcome",
    labelNames: ["outcome"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [opts.registry],
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz" && req.method === "GET") return send(res, 200, "ok\n", "text/plain");
    if (path !== INJECT_PATH)
      return send(res, 404, `no route ${path}: the webhook serves POST ${INJECT_PATH}\n`, "text/plain");
    if (req.method !== "POST")
      return send(res, 405, `${req.method} ${INJECT_PATH}: the webhook takes POST\n`, "text/plain");
    const type = String(req.headers["content-type"] ?? "");
    if (!type.startsWith("application/json"))
      return failure(
        res,
        new WebhookError("WEBHOOK_BAD_REQUEST", 415, `Content-Type ${JSON.stringify(type)}: send application/json`),
      );
    const body = await readBody(req, opts.maxRequestBytes);
    const start = process.hrtime.bigint();
    if (!opts.ready())
      throw new WebhookError("WEBHOOK_NOT_READY", 503, "the webhook has not listed the Plugins yet: try again");
    const review = parseReview(body);
    const { response, outcome, plugins } = admit(review, opts.plugins(), { launcherImage: opts.launcherImage });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    latency.observe({ outcome }, seconds);
    const log = opts.log.child({ uid: review.uid, namespace: review.namespace, pod: review.object?.metadata?.name });
    if (outcome === "refused") log.warn({ message: response.status?.message }, "pod refused");
    else if (outcome === "ignored-kind")
      log.warn({ kind: review.kind, operation: review.operation }, "not a Pod CREATE");
    else log.debug({ outcome, plugins, ms: seconds * 1000 }, "admission");
    send(res, 200, JSON.stringify(reviewResponse(response)));
  };
  const server = createServer(
    { cert: tls.certPem, key: tls.keyPem, requestTimeout: 10_000, headersTimeout: 5_000 },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (err instanceof WebhookError) return failure(res, err);
        const code = isPodplugError(err) ? err.code : "ERROR";
        opts.log.error({ err: (err as Error).message, code }, "webhook request failed");
        send(res, 500, `podplug webhook: ${(err as Error).message} [${code}]\n`, "text/plain");
      });
    },
  );
  server.keepAliveTimeout = 30_000;
  // A TLS client that is not one (plain HTTP, garbage) only ends its own connection.
  server.on("tlsClientError", (err) => opts.log.debug({ err: err.message }, "webhook TLS handshake failed"));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      const a = server.address();
      resolve({
        server,
        port: typeof a === "object" && a ? a.port : opts.port,
        setCertificate: (m) => server.setSecureContext({ cert: m.certPem, key: m.keyPem }),
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
