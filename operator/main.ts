/**
 * The podplug operator: `node operator/main.ts [flags]` (or `podplug operator`).
 * Elects a leader on a Lease; the leader runs the Plugin controller. Serves
 * /metrics and /healthz, /readyz; logs pino JSON; SIGTERM stops the
 * controller, releases the lease and exits 0.
 */
import { pino } from "pino";
import { KubeClient } from "./client.ts";
import { type OperatorConfig, parseConfig } from "./config.ts";
import { loadCredentials } from "./kubeconfig.ts";
import { LeaderElector } from "./leader.ts";
import { OperatorMetrics } from "./metrics.ts";
import { Controller } from "./reconciler.ts";
import { serve } from "./server.ts";

/** Runs the operator until SIGTERM/SIGINT; resolves with the exit code. */
export async function runOperator(cfg: OperatorConfig): Promise<number> {
  const log = pino({ level: cfg.logLevel, base: { component: "podplug-operator", identity: cfg.identity } });
  const client = new KubeClient(await loadCredentials(cfg.kubeconfig, process.env));
  const metrics = new OperatorMetrics();
  const controller = new Controller(client, log, metrics, {
    namespaces: cfg.watchNamespaces,
    agentImage: cfg.agentImage,
    concurrency: cfg.concurrency,
  });
  let synced = false;
  let leading = !cfg.leaderElect;
  const m = await serve(cfg.metricsAddr.host, cfg.metricsAddr.port, {
    "/metrics": async () => ({ status: 200, body: await metrics.render(), type: metrics.registry.contentType }),
  });
  const h = await serve(cfg.healthAddr.host, cfg.healthAddr.port, {
    "/healthz": async () => ({ status: 200, body: "ok\n" }),
    // A standby is ready (it serves metrics and waits); a leader once its caches synced.
    "/readyz": async () =>
      !leading || synced ? { status: 200, body: "ok\n" } : { status: 503, body: "caches not synced\n" },
  });
  log.info(
    { metricsPort: m.port, healthPort: h.port, namespaces: cfg.watchNamespaces, server: client.server },
    "podplug operator starting",
  );

  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => {
    resolveExit = r;
  });
  const startController = (): void => {
    leading = true;
    metrics.leader.set({ name: cfg.leaderElectionId }, 1);
    controller.start();
    void controller.synced().then(() => {
      synced = true;
      log.info("caches synced");
    });
  };
  let elector: LeaderElector | undefined;
  if (cfg.leaderElect) {
    elector = new LeaderElector(client, cfg.leaderElectionNamespace, cfg.leaderElectionId, cfg.identity, log);
    metrics.leader.set({ name: cfg.leaderElectionId }, 0);
    elector.run(startController, () => {
      // As controller-runtime does: a replica that lost the lease exits and is restarted clean.
      log.error("leadership lost: exiting");
      resolveExit(1);
    });
  } else {
    startController();
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    resolveExit(0);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  const code = await exit;
  await controller.stop();
  await elector?.stop();
  metrics.leader.set({ name: cfg.leaderElectionId }, 0);
  m.server.close();
  h.server.close();
  client.close();
  log.info({ code }, "stopped");
  return code;
}

if (import.meta.main) {
  let cfg: OperatorConfig;
  try {
    cfg = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`podplug operator: ${(err as Error).message} [${(err as { code?: string }).code}]\n`);
    process.exit(2);
  }
  process.exitCode = await runOperator(cfg);
  // Keep-alive sockets and timers must not hold the process open after a clean stop.
  setTimeout(() => process.exit(), 200).unref();
}
