/**
 * The podplug operator: `node operator/main.ts [flags]` (or `podplug operator`).
 * Elects a leader on a Lease; the leader runs the manager (watches and the
 * workload and Plugin controllers). Serves /metrics and /healthz, /readyz;
 * logs pino JSON; SIGTERM stops the controllers within the grace period,
 * releases the Lease so a standby takes over at once, and exits 0.
 */
import { pino } from "pino";
import { isPodplugError } from "../src/errors.ts";
import { podplugTracing } from "../src/tracing/tracer.ts";
import { KubeClient } from "./client.ts";
import { type OperatorConfig, parseConfig, usage, wantsHelp } from "./config.ts";
import { EventRecorder } from "./events.ts";
import { loadCredentials } from "./kubeconfig.ts";
import { LeaderElector } from "./leader.ts";
import { Manager } from "./manager.ts";
import { OperatorMetrics } from "./metrics.ts";
import { serve } from "./server.ts";

const SERVICE_NAME = "podplug-operator";

/** Runs the operator until SIGTERM/SIGINT (exit 0) or a fatal error (1); resolves with the exit code. */
export async function runOperator(cfg: OperatorConfig): Promise<number> {
  const log = pino({ level: cfg.logLevel, base: { component: SERVICE_NAME, identity: cfg.identity } });
  const client = new KubeClient(await loadCredentials(cfg.kubeconfig, process.env), {
    qps: cfg.kubeApiQps,
    burst: cfg.kubeApiBurst,
  });
  const metrics = new OperatorMetrics();
  client.onResponse = (method, status) => metrics.requests.inc({ method, code: String(status) });
  client.onThrottle = (seconds) => metrics.rateLimiterWait.observe(seconds);
  // Leader election has its own client and no limit, as controller-runtime's: a full queue never delays a renewal.
  const leaseClient = client.withLimit({ qps: 0, burst: 1 });
  const manager = new Manager(client, log, metrics, {
    namespaces: cfg.watchNamespaces,
    launcherImage: cfg.launcherImage,
    concurrency: cfg.concurrency,
    pluginListDelayMs: cfg.pluginListDelayMs,
    injectTemplates: cfg.injectionMode === "template",
    requireImageDigests: cfg.requireImageDigests,
    // Loads OpenTelemetry's SDK (some 20 MiB of modules) only when OTEL_* turns tracing on.
    tracing: podplugTracing(SERVICE_NAME, (w) => log.warn({ code: "TRACING_CONFIG" }, `tracing: ${w}`)),
  });
  // Webhook mode: every replica serves the webhook (the leader and the standby); the leader runs its watchdog.
  const webhook =
    cfg.injectionMode === "webhook"
      ? // Loaded in webhook mode only: its certificate code (pkijs) is not needed in template mode.
        new (await import("./webhook/webhook.ts")).InjectionWebhook(
          client,
          {
            host: cfg.webhook.addr.host,
            port: cfg.webhook.addr.port,
            namespaces: cfg.watchNamespaces,
            launcherImage: cfg.launcherImage,
            maxRequestBytes: cfg.webhook.maxRequestBytes,
            requireImageDigests: cfg.requireImageDigests,
            watchdogPeriodMs: cfg.webhook.watchdogPeriodMs,
            upgradeMaxInFlight: cfg.webhook.upgradeMaxInFlight,
            upgradeProgressDeadlineMs: cfg.webhook.upgradeProgressDeadlineMs,
            tls: {
              namespace: cfg.leaderElectionNamespace,
              secretName: cfg.webhook.secretName,
              configurationName: cfg.webhook.certSource === "operator" ? cfg.webhook.configurationName : "",
              dnsNames: cfg.webhook.dnsNames,
              ips: cfg.webhook.ips,
              certValidityMs: cfg.webhook.certValidityMs,
              caValidityMs: cfg.webhook.certValidityMs * 10,
              source: cfg.webhook.certSource,
            },
          },
          log,
        )
      : undefined;
  const webhookEvents = webhook ? new EventRecorder(client, log) : undefined;
  await webhook?.start(metrics.registry);
  let synced = false;
  let leading = !cfg.leaderElect;
  const m = await serve(cfg.metricsAddr.host, cfg.metricsAddr.port, {
    "/metrics": async () => ({ status: 200, body: await metrics.render(), type: metrics.registry.contentType }),
  });
  const h = await serve(cfg.healthAddr.host, cfg.healthAddr.port, {
    "/healthz": async () => ({ status: 200, body: "ok\n" }),
    // A standby is ready (it serves metrics and waits); a leader once its caches synced.
    "/readyz": async () =>
      webhook && !webhook.ready()
        ? { status: 503, body: "webhook: Plugins not listed\n" }
        : !leading || synced
          ? { status: 200, body: "ok\n" }
          : { status: 503, body: "caches not synced\n" },
  });
  log.info(
    {
      metrics: `${cfg.metricsAddr.host}:${m.port}`,
      health: `${cfg.healthAddr.host}:${h.port}`,
      namespaces: cfg.watchNamespaces,
      server: client.server,
      injectionMode: cfg.injectionMode,
      webhook: webhook ? `${cfg.webhook.addr.host}:${webhook.port}` : undefined,
      kubeApiQps: cfg.kubeApiQps,
      kubeApiBurst: cfg.kubeApiBurst,
    },
    "podplug operator starting",
  );

  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => {
    resolveExit = r;
  });
  const startManager = (): void => {
    leading = true;
    metrics.leader.set({ name: cfg.leaderElectionId }, 1);
    manager.start();
    if (webhook && webhookEvents) webhook.startWatchdog(webhookEvents);
    void manager.synced().then(() => {
      synced = true;
      log.info("caches synced");
    });
  };
  let elector: LeaderElector | undefined;
  if (cfg.leaderElect) {
    elector = new LeaderElector(leaseClient, cfg.leaderElectionNamespace, cfg.leaderElectionId, cfg.identity, log);
    metrics.leader.set({ name: cfg.leaderElectionId }, 0);
    elector.run(
      startManager,
      () => {
        // As controller-runtime does: a replica that lost the lease exits and is restarted clean.
        log.error("leadership lost: exiting");
        resolveExit(1);
      },
      (err) => {
        // An error no retry can mend (the Lease's namespace does not exist): say what to do, once.
        log.fatal({ code: err.code, err: err.message }, "cannot elect a leader");
        process.stderr.write(`podplug operator: ${err.message} [${err.code}]\n`);
        resolveExit(1);
      },
    );
  } else {
    startManager();
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    resolveExit(0);
  };
  const onTerm = (): void => shutdown("SIGTERM");
  const onInt = (): void => shutdown("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);

  const code = await exit;
  process.off("SIGTERM", onTerm);
  process.off("SIGINT", onInt);
  await manager.stop(cfg.shutdownGraceSeconds * 1000);
  await webhook?.stop();
  await webhookEvents?.close(2000);
  // The Lease goes back before the process does, so a standby takes over at once.
  await elector?.stop();
  metrics.leader.set({ name: cfg.leaderElectionId }, 0);
  m.server.closeAllConnections();
  h.server.closeAllConnections();
  m.server.close();
  h.server.close();
  client.close();
  leaseClient.close();
  log.info({ code }, "stopped");
  return code;
}

/**
 * `podplug operator [flags]`: --help, flag errors (exit 2 with the code), or
 * the operator until it stops; then the process exits, so no keep-alive socket
 * or timer holds it past the grace period.
 */
export async function operatorCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<never> {
  if (wantsHelp(argv)) {
    process.stdout.write(usage());
    process.exit(0);
  }
  let cfg: OperatorConfig;
  try {
    cfg = parseConfig(argv, env);
  } catch (err) {
    const code = isPodplugError(err) ? err.code : "ERROR";
    process.stderr.write(`podplug operator: ${(err as Error).message} [${code}]\n`);
    process.exit(2);
  }
  let code: number;
  try {
    code = await runOperator(cfg);
  } catch (err) {
    const c = isPodplugError(err) ? err.code : "ERROR";
    process.stderr.write(`podplug operator: ${(err as Error).message} [${c}]\n`);
    code = 1;
  }
  process.exit(code);
}

if (import.meta.main) await operatorCommand(process.argv.slice(2), process.env);
