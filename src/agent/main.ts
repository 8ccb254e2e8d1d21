/**
 * The podplug-agent: `node src/agent/main.ts` (or `podplug agent`). Reads
 * PODPLUG_SOCKET_ROOT, PODPLUG_PLUGINS, PODPLUG_MTLS_ROOT and
 * PODPLUG_AGENT_PORT (default 9801),
 * serves the probes, and exits 0 on SIGTERM.
 */
import { pino } from "pino";
import { AGENT_ENV, HOST_ENV } from "../constants.ts";
import { AGENT_PORT, SOCKET_ROOT } from "../inject/conventions.ts";
import { DEFAULT_BUDGET_MS } from "./budget.ts";
import { AgentError } from "./errors.ts";
import { type AgentOptions, createAgentServer } from "./server.ts";

/** The agent's settings from the environment; throws AGENT_BAD_CONFIG. */
export function agentConfig(env: NodeJS.ProcessEnv): AgentOptions & { port: number; host: string } {
  const port = Number(env[AGENT_ENV.port] ?? AGENT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AgentError("AGENT_BAD_CONFIG", `${AGENT_ENV.port}=${env[AGENT_ENV.port]} is not a port: use 0-65535`);
  }
  // Without a budget in the probe path: inside the kubelet's default 1 s probe timeout.
  const timeout = Number(env[AGENT_ENV.checkTimeoutMs] ?? DEFAULT_BUDGET_MS);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new AgentError(
      "AGENT_BAD_CONFIG",
      `${AGENT_ENV.checkTimeoutMs}=${env[AGENT_ENV.checkTimeoutMs]} must be a positive number of milliseconds`,
    );
  }
  return {
    port,
    host: env[AGENT_ENV.host] ?? "0.0.0.0",
    socketRoot: env[HOST_ENV.socketRoot] ?? SOCKET_ROOT,
    plugins: (env[HOST_ENV.plugins] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    checkTimeoutMs: timeout,
    ...(env[HOST_ENV.mtlsRoot] ? { mtlsRoot: env[HOST_ENV.mtlsRoot] } : {}),
  };
}

/** Runs the agent until SIGTERM/SIGINT. */
export async function runAgent(env: NodeJS.ProcessEnv): Promise<void> {
  const cfg = agentConfig(env);
  const logger = pino({ base: { component: "podplug-agent" } });
  const server = createAgentServer({ ...cfg, logger });
  // Before listening: once the kubelet sees the agent up it may stop it, and a SIGTERM that
  // reaches a PID 1 without a handler is dropped.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const a = server.address();
  logger.info(
    { port: typeof a === "object" && a ? a.port : cfg.port, plugins: cfg.plugins },
    "podplug-agent listening",
  );
  await stopped;
  server.close();
  server.closeAllConnections();
}

if (import.meta.main) {
  try {
    await runAgent(process.env);
    // Exit now rather than when the last check's channel drains: the kubelet waits for PID 1.
    process.exit(0);
  } catch (err) {
    process.stderr.write(`podplug agent: ${(err as Error).message} [${(err as { code?: string }).code ?? "ERROR"}]\n`);
    process.exit(2);
  }
}
