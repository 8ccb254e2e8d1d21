/**
 * The agent's HTTP side, on port 9801: the kubelet's httpGet probes.
 *   GET /healthz            200 once the agent listens (its own startupProbe)
 *   GET /livez/<name>       200 when plugin <name> answers SERVING, else 503
 *   GET /readyz/<name>      the same check (a plugin is ready when it serves)
 * 503 bodies carry the reason and its code; unknown plugins get 404.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { checkHealth } from "./check.ts";
import { agentCredentials } from "./mtls.ts";
import { findPluginSocket } from "./socket.ts";

/** Settings of one agent. */
export interface AgentOptions {
  /** The socket volume's mount point (PODPLUG_SOCKET_ROOT). */
  socketRoot: string;
  /** The plugins of this pod (PODPLUG_PLUGINS); others are 404. Empty allows any valid name. */
  plugins: string[];
  /** Deadline of one gRPC check. */
  checkTimeoutMs: number;
  /** Where AutoMTLS host certificates are mounted (PODPLUG_MTLS_ROOT), if any. */
  mtlsRoot?: string;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Creates the HTTP server (not yet listening). */
export function createAgentServer(opts: AgentOptions): Server {
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const send = (status: number, body: string): void => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" }).end(`${body}\n`);
    };
    if (req.method !== "GET") return send(405, `method ${req.method} not allowed: the agent answers GET`);
    if (path === "/healthz") return send(200, "ok");
    const m = /^\/(livez|readyz)\/([^/]*)$/.exec(path);
    if (!m) return send(404, `no route ${path}: use /livez/<plugin> or /readyz/<plugin>`);
    const name = decodeURIComponent(m[2]!);
    if (!NAME_RE.test(name)) return send(400, `${JSON.stringify(name)} is not a plugin name`);
    if (opts.plugins.length > 0 && !opts.plugins.includes(name)) {
      return send(404, `plugin ${name} is not in this pod (PODPLUG_PLUGINS=${opts.plugins.join(",")})`);
    }
    findPluginSocket(join(opts.socketRoot, name))
      .then(async (ep) => checkHealth(ep.socket, opts.checkTimeoutMs, await agentCredentials(opts.mtlsRoot, name, ep)))
      .then(
        () => send(200, "SERVING"),
        (err: Error & { code?: string }) => send(503, `${err.message} [${err.code ?? "ERROR"}]`),
      );
  });
}
