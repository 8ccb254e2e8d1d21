/**
 * A small HTTP client for the apiserver on node:https. Credentials come from
 * kubeconfig.ts (certificates, tokens, impersonation); requests and watch
 * streams are ours so that list/watch, server-side apply and subresources
 * behave exactly as the operator needs (PRIOR-ART.md §5).
 */

import type { IncomingMessage } from "node:http";
import { Agent, type RequestOptions, request } from "node:https";
import { KubeApiError, OperatorError } from "./errors.ts";
import type { Credentials } from "./kubeconfig.ts";
import { TokenBucket } from "./rate-limiter.ts";

/** Options of one request. */
export interface RequestInit {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The JSON media type server-side apply accepts (JSON is YAML). */
export const APPLY_PATCH = "application/apply-patch+yaml";
/** podplug's field manager for every apply. */
export const FIELD_MANAGER = "podplug";

function queryString(q: RequestInit["query"]): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** A client bound to one apiserver and identity. */
export class KubeClient {
  readonly server: string;
  private readonly creds: Credentials;
  private agent: Agent | undefined;
  /** Called with each answered request's method and HTTP status (client-go's rest_client_requests_total). */
  onResponse: ((method: string, status: number) => void) | undefined;
  /** Called with the seconds each request waited for the rate limiter (rest_client_rate_limiter_duration_seconds). */
  onThrottle: ((seconds: number) => void) | undefined;
  private readonly limiter: TokenBucket;

  /** @param limit client-go's QPS and Burst over every request and watch of this client; qps 0: none. */
  constructor(creds: Credentials, limit: { qps: number; burst: number } = { qps: 0, burst: 1 }) {
    this.creds = creds;
    this.server = creds.server;
    this.limiter = new TokenBucket(limit.qps, limit.burst);
  }

  /** Another client on the same credentials with its own limit (leader election's, so a busy queue cannot starve the Lease renewals). */
  withLimit(limit: { qps: number; burst: number }): KubeClient {
    const c = new KubeClient(this.creds, limit);
    c.onResponse = this.onResponse;
    return c;
  }

  private async options(method: string, init: RequestInit): Promise<RequestOptions> {
    const opts: RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.creds.apply(opts);
    // One keep-alive agent, built from the same TLS material.
    this.agent ??= new Agent({
      keepAlive: true,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: opts.rejectUnauthorized,
    });
    opts.agent = this.agent;
    if (init.body !== undefined) {
      (opts.headers as Record<string, string>)["Content-Type"] = init.contentType ?? "application/json";
    }
    if (init.signal) opts.signal = init.signal;
    return opts;
  }

  private async send(method: string, path: string, init: RequestInit): Promise<IncomingMessage> {
    const waited = await this.limiter.take(init.signal);
    this.onThrottle?.(waited / 1000);
    return this.options(method, init).then(
      (opts) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const url = `${this.server}${path}${queryString(init.query)}`;
          const req = request(url, opts, resolve);
          req.on("error", (err) =>
            reject(
              new OperatorError(
                "KUBE_UNREACHABLE",
                `${method} ${path}: ${err.message} (is the apiserver at ${this.server} up?)`,
                { method, path, server: this.server },
                { cause: err },
              ),
            ),
          );
          if (init.timeoutMs) {
            req.setTimeout(init.timeoutMs, () => req.destroy(new Error(`no answer within ${init.timeoutMs} ms`)));
          }
          req.end(init.body === undefined ? undefined : JSON.stringify(init.body));
        }),
    );
  }

  /** Sends a request and parses the JSON answer; throws KubeApiError on non-2xx. */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const { status, text } = await this.exchange(method, path, init, true);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new OperatorError(
        "KUBE_BAD_RESPONSE",
        `${method} ${path}: HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`,
      );
    }
    return parsed as T;
  }

  /**
   * Sends a write whose answer the caller does not read (an apply, a status
   * patch, an Event): a 2xx answer's body is drained unread, never decoded
   * or parsed (the apiserver answers an apply with the whole object); a
   * non-2xx answer throws KubeApiError as request() does.
   */
  async write(method: string, path: string, init: RequestInit = {}): Promise<void> {
    await this.exchange(method, path, init, false);
  }

  // One request: throws KubeApiError on non-2xx; keeps a 2xx body only when asked.
  private async exchange(
    method: string,
    path: string,
    init: RequestInit,
    keepBody: boolean,
  ): Promise<{ status: number; text: string }> {
    const res = await this.send(method, path, { timeoutMs: 30_000, ...init });
    const status = res.statusCode ?? 0;
    const ok = status >= 200 && status < 300;
    const chunks: Buffer[] = [];
    try {
      if (ok && !keepBody) for await (const _ of res);
      else for await (const chunk of res) chunks.push(chunk as Buffer);
    } catch (err) {
      throw new OperatorError(
        "KUBE_UNREACHABLE",
        `${method} ${path}: the answer broke off: ${(err as Error).message}`,
        { method, path },
        { cause: err },
      );
    }
    this.onResponse?.(method, status);
    const text = Buffer.concat(chunks).toString("utf8");
    if (ok) return { status, text };
    let st: { reason?: string; message?: string };
    try {
      st = (text ? JSON.parse(text) : {}) as typeof st;
    } catch {
      st = { message: text.slice(0, 500) };
    }
    throw new KubeApiError(method, path, status, st.reason ?? "Unknown", st.message ?? text.slice(0, 500));
  }

  /**
   * Opens a watch and calls `onEvent` for each JSON line. Resolves when the
   * server ends the stream (its timeoutSeconds), rejects on errors and when
   * no byte arrived for `idleMs` (a half-open connection, PRIOR-ART §5.2).
   */
  async watch(
    path: string,
    query: RequestInit["query"],
    onEvent: (ev: unknown) => void,
    opts: { idleMs: number; signal?: AbortSignal },
  ): Promise<void> {
    const res = await this.send("GET", path, { query: { ...query, watch: true }, signal: opts.signal });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      let text = "";
      res.setEncoding("utf8");
      for await (const chunk of res) text += chunk as string;
      let st: { reason?: string; message?: string } = {};
      try {
        st = JSON.parse(text) as typeof st;
      } catch {
        st = { message: text.slice(0, 500) };
      }
      throw new KubeApiError("GET", `${path}?watch`, status, st.reason ?? "Unknown", st.message ?? "");
    }
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => res.destroy(new Error(`watch ${path} idle for ${opts.idleMs} ms`)), opts.idleMs);
      };
      arm();
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        arm();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let ev: unknown;
          try {
            ev = JSON.parse(line);
          } catch {
            res.destroy(new Error(`watch ${path}: a line is not JSON: ${line.slice(0, 200)}`));
            return;
          }
          try {
            onEvent(ev);
          } catch (err) {
            res.destroy(err as Error);
            return;
          }
        }
      });
      // `done` must fire once (PRIOR-ART §5.5): settle on the first of end/error/close.
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err instanceof OperatorError) reject(err);
        else if (err)
          reject(
            new OperatorError("KUBE_UNREACHABLE", `watch ${path} dropped: ${err.message}`, { path }, { cause: err }),
          );
        else resolve();
      };
      res.on("end", () => finish());
      res.on("error", (err) => finish(err));
      res.on("close", () => finish(res.complete ? undefined : new Error("connection closed mid-stream")));
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent?.destroy();
  }
}
