/**
 * The operator's settings from flags (controller-runtime's names) and
 * environment variables (what the chart sets); flags win.
 */
import { hostname } from "node:os";
import { DEFAULT_AGENT_IMAGE } from "../src/inject/conventions.ts";
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
  agentImage: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  concurrency: number;
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
const NS_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function addr(flag: string, v: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new OperatorError(
      "PODPLUG_OPERATOR_BAD_FLAG",
      `${flag}=${JSON.stringify(v)} is not an address: use [host]:port, e.g. :8080 or 127.0.0.1:0`,
    );
  }
  return { host: m[1] || "0.0.0.0", port };
}

/** Parses `argv` (without node and script) over `env`; throws PODPLUG_OPERATOR_BAD_FLAG. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--"))
      throw new OperatorError(
        "PODPLUG_OPERATOR_BAD_FLAG",
        `unexpected argument ${JSON.stringify(a)}: flags look like --name=value`,
      );
    const eq = a.indexOf("=");
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) flags.set(a.slice(2), argv[++i]!);
    else flags.set(a.slice(2), "true");
  }
  const known = [
    "kubeconfig",
    "metrics-bind-address",
    "health-probe-bind-address",
    "leader-elect",
    "leader-election-namespace",
    "leader-election-id",
    "identity",
    "watch-namespaces",
    "agent-image",
    "log-level",
    "concurrency",
  ];
  for (const k of flags.keys()) {
    if (!known.includes(k))
      throw new OperatorError(
        "PODPLUG_OPERATOR_BAD_FLAG",
        `unknown flag --${k}; known: ${known.map((x) => `--${x}`).join(" ")}`,
      );
  }
  const get = (flag: string, envName: string, dflt: string): string => flags.get(flag) ?? env[envName] ?? dflt;

  const leaderElect = get("leader-elect", "LEADER_ELECT", "true");
  if (leaderElect !== "true" && leaderElect !== "false") {
    throw new OperatorError("PODPLUG_OPERATOR_BAD_FLAG", `--leader-elect=${leaderElect}: use true or false`);
  }
  const logLevel = get("log-level", "LOG_LEVEL", "info");
  if (!(LEVELS as readonly string[]).includes(logLevel)) {
    throw new OperatorError("PODPLUG_OPERATOR_BAD_FLAG", `--log-level=${logLevel}: use one of ${LEVELS.join(", ")}`);
  }
  const watchNamespaces = get("watch-namespaces", "WATCH_NAMESPACES", "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const ns of watchNamespaces) {
    if (!NS_RE.test(ns))
      throw new OperatorError(
        "PODPLUG_OPERATOR_BAD_FLAG",
        `--watch-namespaces: ${JSON.stringify(ns)} is not a namespace name`,
      );
  }
  const concurrency = Number(get("concurrency", "CONCURRENCY", "2"));
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new OperatorError(
      "PODPLUG_OPERATOR_BAD_FLAG",
      `--concurrency=${get("concurrency", "CONCURRENCY", "2")}: use an integer from 1 to 64`,
    );
  }
  const leaderNs = get("leader-election-namespace", "POD_NAMESPACE", "podplug-system");
  if (!NS_RE.test(leaderNs))
    throw new OperatorError(
      "PODPLUG_OPERATOR_BAD_FLAG",
      `--leader-election-namespace=${leaderNs} is not a namespace name`,
    );
  return {
    kubeconfig: flags.get("kubeconfig") ?? env.KUBECONFIG,
    metricsAddr: addr("--metrics-bind-address", get("metrics-bind-address", "METRICS_BIND_ADDRESS", ":8080")),
    healthAddr: addr(
      "--health-probe-bind-address",
      get("health-probe-bind-address", "HEALTH_PROBE_BIND_ADDRESS", ":8081"),
    ),
    leaderElect: leaderElect === "true",
    leaderElectionNamespace: leaderNs,
    leaderElectionId: get("leader-election-id", "LEADER_ELECTION_ID", "podplug-operator"),
    identity: get("identity", "POD_NAME", `${hostname()}_${process.pid}`),
    watchNamespaces,
    agentImage: get("agent-image", "PODPLUG_AGENT_IMAGE", DEFAULT_AGENT_IMAGE),
    logLevel: logLevel as OperatorConfig["logLevel"],
    concurrency,
  };
}
