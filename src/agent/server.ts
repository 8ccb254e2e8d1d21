/**
 * The agent's HTTP side, on port 9801: the kubelet's httpGet probes.
 *   GET /healthz            200 once the agent listens (its own startupProbe)
 *   GET /livez/<name>       200 when plugin <name> answers SERVING, else 503
 *   GET /readyz/<name>      the same check (a plugin is ready when it serves)
 * `?timeoutMs=` bounds the whole answer (src/agent/budget.ts). 503 bodies
 * carry the reason and its code, and every failure is logged with the
 * plugin's name bound: the kubelet shows only the status code in the pod's
 * events, so the log is where the reason is. Unknown plugins get 404.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { type Logger, pino } from "pino";
import { AGENT_BUDGET_PARAM } from "../constants.ts";
import { MAX_BUDGET_MS, requestBudgetMs } from "./budget.ts";
import { checkHealth } from "./check.ts";
import { AgentError } from "./errors.ts";
import { agentCredentials } from "./mtls.ts";
import { findPluginSocket } from "./socket.ts";

/** Settings of one agent. */
export interface AgentOptions {
  /** The socket volume's mount point (PODPLUG_SOCKET_ROOT). */
  socketRoot: string;
  /** The plugins of this pod (PODPLUG_PLUGINS); others are 404. Empty allows any valid name. */
  plugins: string[];
  /** Budget of one check when the probe path gives none (`?timeoutMs=`). */
  checkTimeoutMs: number;
  /** Where AutoMTLS host certificates are mounted (PODPLUG_MTLS_ROOT), if any. */
  mtlsRoot?: string;
  /** pino logger (default: JSON on stdout); each line about a plugin has `plugin` bound. */
  logger?: Logger;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** One check of plugin `name` answered within `budgetMs`: resolves when SERVING, else rejects with an AgentError. */
async function checkPlugin(opts: AgentOptions, name: string, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new AgentError(
            "AGENT_CHECK_FAILED",
            `plugin ${name} did not answer its health check within ${budgetMs} ms (the probe's budget): hung, or overloaded`,
          ),
        ),
      budgetMs,
    );
  });
  const check = (async () => {
    const ep = await findPluginSocket(join(opts.socketRoot, name), Math.max(1, Math.min(500, budgetMs / 2)));
    const creds = await agentCredentials(opts.mtlsRoot, name, ep);
    await checkHealth(ep.socket, Math.max(1, deadline - Date.now()), creds);
  })();
  try {
    await Promise.race([check, overrun]);
  } finally {
    clearTimeout(timer);
    check.catch(() => {}); // lost the race: its own deadline ends it
  }
}

/** Creates the HTTP server (not yet listening). */
export function createAgentServer(opts: AgentOptions): Server {
  const log = opts.logger ?? pino({ base: { component: "podplug-agent" } });
  /** Last result per probe, so a recovery is logged once. */
  const failing = new Set<string>();
  return createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://agent");
    const path = url.pathname;
    const send = (status: number, body: string): void => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" }).end(`${body}\n`);
    };
    if (req.method !== "GET") return send(405, `method ${req.method} not allowed: the agent answers GET`);
    if (path === "/healthz") return send(200, "ok");
    const m = /^\/(livez|readyz)\/([^/]*)$/.exec(path);
    if (!m) return send(404, `no route ${path}: use /livez/<plugin> or /readyz/<plugin>`);
    const probe = m[1]!;
    const name = decodeURIComponent(m[2]!);
    if (!NAME_RE.test(name)) return send(400, `${JSON.stringify(name)} is not a plugin name`);
    if (opts.plugins.length > 0 && !opts.plugins.includes(name)) {
      return send(404, `plugin ${name} is not in this pod (PODPLUG_PLUGINS=${opts.plugins.join(",")})`);
    }
    const budgetMs = requestBudgetMs(url.searchParams, opts.checkTimeoutMs);
    if (budgetMs === undefined) {
      return send(400, `${AGENT_BUDGET_PARAM} must be a whole number of milliseconds, 1 to ${MAX_BUDGET_MS}`);
    }
    const plog = log.child({ plugin: name, probe });
    const key = `${probe}/${name}`;
    checkPlugin(opts, name, budgetMs).then(
      () => {
        if (failing.delete(key)) plog.info("plugin healthy again");
        send(200, "SERVING");
      },
      (err: Error & { code?: string }) => {
        failing.add(key);
        plog.warn({ code: err.code ?? "ERROR", budgetMs }, err.message);
        send(503, `${err.message} [${err.code ?? "ERROR"}]`);
      },
    );
  });
}
