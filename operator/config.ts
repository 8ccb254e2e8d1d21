/**
 * The operator's settings from flags (controller-runtime's names) and
 * environment variables (what the chart sets); flags win. Parsed with
 * `node:util` parseArgs, like the CLI. `--help` lists every flag with its
 * environment variable and default.
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { DEFAULT_LAUNCHER_IMAGE } from "../src/inject/conventions.ts";
import { OperatorError } from "./errors.ts";

/** Everything main.ts needs. */
export interface OperatorConfig {
  kubeconfig?: string;
  metricsAddr: { host: string; port: number };
  healthAddr: { host: string; port: number };
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  identity: string;
  watchNamespaces: string[];
  launcherImage: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  concurrency: number;
  /** client-go's QPS and Burst of the client the watches and controllers share; qps 0: no limit. */
  kubeApiQps: number;
  kubeApiBurst: number;
  /** Seconds SIGTERM waits for running reconciles before exiting. */
  shutdownGraceSeconds: number;
  /** Test-only (PODPLUG_OPERATOR_TEST_PLUGIN_LIST_DELAY_MS): delay of the first Plugin list. */
  pluginListDelayMs: number;
  /** template: server-side apply to workload templates; webhook: inject Pods at creation (docs/injection-modes.md). */
  injectionMode: "template" | "webhook";
  /** Inject only Plugins whose spec.image pins a digest (operator/image-digest.ts). */
  requireImageDigests: boolean;
  webhook: WebhookConfig;
}

/** Webhook mode's settings (used only with --injection-mode=webhook). */
export interface WebhookConfig {
  addr: { host: string; port: number };
  /** DNS names and IPs of the serving certificate. */
  dnsNames: string[];
  ips: string[];
  secretName: string;
  configurationName: string;
  certSource: "operator" | "external";
  certValidityMs: number;
  maxRequestBytes: number;
  watchdogPeriodMs: number;
  upgradeMaxInFlight: number;
  upgradeProgressDeadlineMs: number;
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
const NS_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** One flag: its environment variable, default and meaning (the --help text and the parser come from this). */
interface Flag {
  env?: string;
  dflt: string;
  help: string;
}

const FLAGS: Record<string, Flag> = {
  kubeconfig: {
    env: "KUBECONFIG",
    dflt: "",
    help: "kubeconfig file to use out of cluster; empty: the pod's ServiceAccount",
  },
  "metrics-bind-address": {
    env: "METRICS_BIND_ADDRESS",
    dflt: "127.0.0.1:8080",
    help: "[host]:port of /metrics (the chart binds the pod IP)",
  },
  "health-probe-bind-address": {
    env: "HEALTH_PROBE_BIND_ADDRESS",
    dflt: "127.0.0.1:8081",
    help: "[host]:port of /healthz and /readyz (the chart binds the pod IP)",
  },
  "leader-elect": { env: "LEADER_ELECT", dflt: "true", help: "elect a leader on a Lease (true|false)" },
  "require-image-digests": {
    env: "REQUIRE_IMAGE_DIGESTS",
    dflt: "false",
    help: "inject only Plugins whose spec.image pins a digest (image@sha256:…); others get Injected=False ImageDigestRequired (true|false)",
  },
  "leader-election-namespace": {
    env: "POD_NAMESPACE",
    dflt: "podplug-system",
    help: "namespace of the Lease; it must exist",
  },
  "leader-election-id": { env: "LEADER_ELECTION_ID", dflt: "podplug-operator", help: "name of the Lease" },
  identity: { env: "POD_NAME", dflt: "<hostname>_<pid>", help: "this replica's name in the Lease" },
  "watch-namespaces": { env: "WATCH_NAMESPACES", dflt: "", help: "comma-separated namespaces; empty: all" },
  "launcher-image": {
    env: "PODPLUG_LAUNCHER_IMAGE",
    dflt: DEFAULT_LAUNCHER_IMAGE,
    help: "image of the injected launcher init container (the podplug image)",
  },
  "log-level": { env: "LOG_LEVEL", dflt: "info", help: LEVELS.join("|") },
  concurrency: { env: "CONCURRENCY", dflt: "4", help: "workers per controller (1-64)" },
  "kube-api-qps": {
    env: "KUBE_API_QPS",
    dflt: "400",
    help: "requests per second to the apiserver, sustained (client-go's QPS; 0: no limit)",
  },
  "kube-api-burst": {
    env: "KUBE_API_BURST",
    dflt: "800",
    help: "requests above the QPS let through at once (client-go's Burst, 1-10000)",
  },
  "injection-mode": {
    env: "INJECTION_MODE",
    dflt: "template",
    help: "template (patch workload templates) or webhook (inject Pods at creation); docs/injection-modes.md",
  },
  "webhook-bind-address": {
    env: "WEBHOOK_BIND_ADDRESS",
    dflt: "127.0.0.1:9443",
    help: "[host]:port of the HTTPS injection webhook (webhook mode; the chart binds the pod IP)",
  },
  "webhook-service": {
    env: "WEBHOOK_SERVICE",
    dflt: "",
    help: "<name>.<namespace> of the webhook's Service: the serving certificate's DNS names",
  },
  "webhook-cert-hosts": {
    env: "WEBHOOK_CERT_HOSTS",
    dflt: "",
    help: "more comma-separated DNS names or IPv4 addresses of the serving certificate (a webhook reached by URL)",
  },
  "webhook-secret": {
    env: "WEBHOOK_SECRET",
    dflt: "podplug-webhook-tls",
    help: "Secret of the webhook's CA and serving certificate, in the leader-election namespace",
  },
  "webhook-configuration-name": {
    env: "WEBHOOK_CONFIGURATION_NAME",
    dflt: "podplug-webhook",
    help: 'MutatingWebhookConfiguration whose caBundle the operator keeps; "" for none',
  },
  "webhook-cert-source": {
    env: "WEBHOOK_CERT_SOURCE",
    dflt: "operator",
    help: "operator (makes and rotates the certificates) or external (cert-manager writes the Secret and caBundle)",
  },
  "webhook-cert-validity-seconds": {
    env: "WEBHOOK_CERT_VALIDITY_SECONDS",
    dflt: "31536000",
    help: "life of a serving certificate (60-315360000); renewed with a third left; the CA lives 10 times as long",
  },
  "webhook-max-request-bytes": {
    env: "WEBHOOK_MAX_REQUEST_BYTES",
    dflt: "4194304",
    help: "largest AdmissionReview accepted (65536-67108864); larger ones get 413",
  },
  "watchdog-period-seconds": {
    env: "WATCHDOG_PERIOD_SECONDS",
    dflt: "30",
    help: "how often webhook mode looks for Pods without their sidecar (1-3600)",
  },
  "upgrade-max-in-flight": {
    env: "UPGRADE_MAX_IN_FLIGHT",
    dflt: "1",
    help: "webhook mode: Pods whose sidecar image is patched in place at once (0-100; 0: new Pods only)",
  },
  "upgrade-progress-deadline-seconds": {
    env: "UPGRADE_PROGRESS_DEADLINE_SECONDS",
    dflt: "300",
    help: "webhook mode: a new sidecar not running and ready this long after its patch halts the upgrade (10-3600)",
  },
  "shutdown-grace-seconds": {
    env: "SHUTDOWN_GRACE_SECONDS",
    dflt: "5",
    help: "how long SIGTERM waits for running reconciles (0-60)",
  },
};

/** The `podplug operator --help` text: every flag, its environment variable and default. */
export function usage(): string {
  const rows = Object.entries(FLAGS).map(([name, f]) => {
    const left = `  --${name}=${f.dflt === "" ? '""' : f.dflt}`;
    return `${left.padEnd(52)} ${f.help}${f.env ? ` [env ${f.env}]` : ""}`;
  });
  return [
    "usage: podplug operator [flags]   (or node operator/main.ts [flags])",
    "Runs the podplug operator: injects Plugins into the workloads they select (docs/operator.md).",
    "Flags (--name=value or --name value; a flag wins over its environment variable):",
    ...rows,
    `  ${"--help".padEnd(50)} this text`,
    "",
  ].join("\n");
}

const bad = (message: string, flag?: string): OperatorError =>
  new OperatorError("OPERATOR_BAD_FLAG", message, flag ? { flag } : {});

function addr(flag: string, v: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    throw bad(`--${flag}=${JSON.stringify(v)} is not an address: use [host]:port, e.g. 127.0.0.1:8080 or :0`, flag);
  }
  // ":8080" means every interface, as in Go; "[::1]:8080" an IPv6 host.
  const host = m[1]!.replace(/^\[(.*)\]$/, "$1");
  return { host: host || "0.0.0.0", port };
}

/** True when argv asks for --help (or -h). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/** Parses `argv` (without node and script) over `env`; throws OPERATOR_BAD_FLAG. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: "string" as const }]));
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    values = parsed.values as Record<string, string | undefined>;
  } catch (err) {
    const e = err as Error & { code?: string };
    const m = /'([^' ]*)/.exec(e.message);
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
      throw bad(
        `unknown flag ${m?.[1] ?? ""}; known: ${Object.keys(FLAGS)
          .map((x) => `--${x}`)
          .join(" ")} --help`,
      );
    if (e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL")
      throw bad(`unexpected argument ${JSON.stringify(m?.[1] ?? e.message)}: flags look like --name=value`);
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
      throw bad(`${m?.[1] ?? "a flag"} needs a value: --name=value (see --help)`);
    throw bad(e.message);
  }
  const get = (flag: string): string => {
    const f = FLAGS[flag]!;
    return values[flag] ?? (f.env ? env[f.env] : undefined) ?? f.dflt;
  };

  const leaderElect = get("leader-elect");
  if (leaderElect !== "true" && leaderElect !== "false") {
    throw bad(`--leader-elect=${leaderElect}: use true or false`, "leader-elect");
  }
  const requireDigests = get("require-image-digests");
  if (requireDigests !== "true" && requireDigests !== "false") {
    throw bad(`--require-image-digests=${requireDigests}: use true or false`, "require-image-digests");
  }
  const logLevel = get("log-level");
  if (!(LEVELS as readonly string[]).includes(logLevel)) {
    throw bad(`--log-level=${logLevel}: use one of ${LEVELS.join(", ")}`, "log-level");
  }
  const watchNamespaces = get("watch-namespaces")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const ns of watchNamespaces) {
    if (!NS_RE.test(ns))
      throw bad(`--watch-namespaces: ${JSON.stringify(ns)} is not a namespace name`, "watch-namespaces");
  }
  const int = (flag: string, min: number, max: number): number => {
    const n = Number(get(flag));
    if (!Number.isInteger(n) || n < min || n > max)
      throw bad(`--${flag}=${get(flag)}: use an integer from ${min} to ${max}`, flag);
    return n;
  };
  const qps = Number(get("kube-api-qps"));
  if (get("kube-api-qps").trim() === "" || !Number.isFinite(qps) || qps < 0 || qps > 100_000)
    throw bad(`--kube-api-qps=${get("kube-api-qps")}: use a number from 0 (no limit) to 100000`, "kube-api-qps");
  const leaderNs = get("leader-election-namespace");
  if (!NS_RE.test(leaderNs))
    throw bad(`--leader-election-namespace=${leaderNs} is not a namespace name`, "leader-election-namespace");
  const identity = values.identity ?? env.POD_NAME ?? `${hostname()}_${process.pid}`;
  const delay = Number(env.PODPLUG_OPERATOR_TEST_PLUGIN_LIST_DELAY_MS ?? 0);
  const mode = get("injection-mode");
  if (mode !== "template" && mode !== "webhook")
    throw bad(`--injection-mode=${mode}: use template or webhook`, "injection-mode");
  const certSource = get("webhook-cert-source");
  if (certSource !== "operator" && certSource !== "external")
    throw bad(`--webhook-cert-source=${certSource}: use operator or external`, "webhook-cert-source");
  const service = get("webhook-service");
  const svc = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(service);
  if (service !== "" && !svc)
    throw bad(`--webhook-service=${service}: use <service name>.<namespace>`, "webhook-service");
  const hosts = get("webhook-cert-hosts")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  const ips = hosts.filter((h) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h === "::1");
  const dnsNames = [
    ...(svc ? [`${svc[1]}.${svc[3]}.svc`, `${svc[1]}.${svc[3]}.svc.cluster.local`] : []),
    ...hosts.filter((h) => !ips.includes(h)),
  ];
  if (mode === "webhook" && dnsNames.length + ips.length === 0)
    throw bad(
      "--injection-mode=webhook needs the names the apiserver reaches the webhook by: --webhook-service=<name>.<namespace> or --webhook-cert-hosts",
      "webhook-service",
    );
  return {
    kubeconfig: get("kubeconfig") || undefined,
    metricsAddr: addr("metrics-bind-address", get("metrics-bind-address")),
    healthAddr: addr("health-probe-bind-address", get("health-probe-bind-address")),
    leaderElect: leaderElect === "true",
    leaderElectionNamespace: leaderNs,
    leaderElectionId: get("leader-election-id"),
    identity,
    watchNamespaces,
    launcherImage: get("launcher-image"),
    logLevel: logLevel as OperatorConfig["logLevel"],
    concurrency: int("concurrency", 1, 64),
    kubeApiQps: qps,
    kubeApiBurst: int("kube-api-burst", 1, 10_000),
    shutdownGraceSeconds: int("shutdown-grace-seconds", 0, 60),
    pluginListDelayMs: Number.isFinite(delay) && delay > 0 ? delay : 0,
    injectionMode: mode,
    requireImageDigests: requireDigests === "true",
    webhook: {
      addr: addr("webhook-bind-address", get("webhook-bind-address")),
      dnsNames,
      ips,
      secretName: get("webhook-secret"),
      configurationName: get("webhook-configuration-name"),
      certSource,
      certValidityMs: int("webhook-cert-validity-seconds", 60, 315_360_000) * 1000,
      maxRequestBytes: int("webhook-max-request-bytes", 65_536, 67_108_864),
      watchdogPeriodMs: int("watchdog-period-seconds", 1, 3600) * 1000,
      upgradeMaxInFlight: int("upgrade-max-in-flight", 0, 100),
      upgradeProgressDeadlineMs: int("upgrade-progress-deadline-seconds", 10, 3600) * 1000,
    },
  };
}
