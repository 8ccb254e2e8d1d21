/**
 * Where the operator's credentials come from: in a pod, the ServiceAccount
 * token (re-read for every request, as projected tokens rotate) and CA; out of
 * a pod, a kubeconfig with certificates, a token or basic auth, optionally
 * impersonating (`as`, `as-groups`). Only exec and auth-provider users load
 * @kubernetes/client-node's KubeConfig, whose generated API classes cost
 * about 85 MiB of RSS that the common cases do not need.
 */
import { readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { OperatorError } from "./errors.ts";

/** Server URL plus a way to put credentials on a request. */
export interface Credentials {
  readonly server: string;
  /** Adds TLS material and auth headers to `opts`. */
  apply(opts: RequestOptions): Promise<void>;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface NamedCluster {
  name: string;
  cluster: Record<string, unknown>;
}
interface NamedUser {
  name: string;
  user: Record<string, unknown>;
}
interface NamedContext {
  name: string;
  context: { cluster: string; user: string };
}
interface KubeconfigFile {
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
  "current-context"?: string;
}

function bad(path: string, what: string): OperatorError {
  return new OperatorError("KUBE_CONFIG", `kubeconfig ${path}: ${what}`);
}

function material(base: string, obj: Record<string, unknown>, key: string): Buffer | undefined {
  const data = obj[`${key}-data`];
  if (typeof data === "string") return Buffer.from(data, "base64");
  const file = obj[key];
  if (typeof file === "string") return readFileSync(resolve(base, file));
  return undefined;
}

/** Credentials of the pod's ServiceAccount; undefined outside a pod. */
export function inClusterCredentials(env: NodeJS.ProcessEnv, dir = SA_DIR): Credentials | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) return undefined;
  const ca = readFileSync(join(dir, "ca.crt"));
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    server,
    async apply(opts) {
      opts.ca = ca;
      const token = readFileSync(join(dir, "token"), "utf8").trim();
      (opts.headers as Record<string, string>).Authorization = `Bearer ${token}`;
    },
  };
}

/** Credentials from the kubeconfig at `path` (its current context). */
export async function kubeconfigCredentials(path: string): Promise<Credentials> {
  let doc: KubeconfigFile;
  try {
    doc = parse(readFileSync(path, "utf8")) as KubeconfigFile;
  } catch (err) {
    throw bad(path, `cannot read it: ${(err as Error).message}`);
  }
  const ctxName = doc?.["current-context"];
  const ctx = doc?.contexts?.find((x) => x.name === ctxName)?.context;
  if (!ctx)
    throw bad(
      path,
      `no current context (current-context is ${JSON.stringify(ctxName)}): set one with kubectl config use-context`,
    );
  const cluster = doc.clusters?.find((x) => x.name === ctx.cluster)?.cluster;
  const user = doc.users?.find((x) => x.name === ctx.user)?.user ?? {};
  if (!cluster || typeof cluster.server !== "string")
    throw bad(path, `context ${ctxName} names cluster ${ctx.cluster}, which has no server`);
  if (user.exec || user["auth-provider"]) return clientNodeCredentials(path);
  const base = dirname(path);
  const ca = material(base, cluster, "certificate-authority");
  const cert = material(base, user, "client-certificate");
  const key = material(base, user, "client-key");
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  const headers: Record<string, string> = {};
  if (typeof user.token === "string") headers.Authorization = `Bearer ${user.token}`;
  if (typeof user.username === "string" && typeof user.password === "string") {
    headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
  }
  if (typeof user.as === "string") headers["Impersonate-User"] = user.as;
  const tokenFile = typeof user.tokenFile === "string" ? resolve(base, user.tokenFile) : undefined;
  const groups = Array.isArray(user["as-groups"]) ? (user["as-groups"] as string[]) : [];
  return {
    server: cluster.server.replace(/\/$/, ""),
    async apply(opts) {
      if (ca) opts.ca = ca;
      if (cert) opts.cert = cert;
      if (key) opts.key = key;
      if (insecure) opts.rejectUnauthorized = false;
      const h = opts.headers as Record<string, string | string[]>;
      Object.assign(h, headers);
      if (tokenFile) h.Authorization = `Bearer ${readFileSync(tokenFile, "utf8").trim()}`;
      if (groups.length > 0) h["Impersonate-Group"] = groups;
    },
  };
}

/** Exec and auth-provider users: client-node's KubeConfig runs the plugin. */
async function clientNodeCredentials(path: string): Promise<Credentials> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw bad(path, "no current cluster");
  return { server: cluster.server.replace(/\/$/, ""), apply: (opts) => kc.applyToHTTPSOptions(opts) };
}

/**
 * The operator's credentials: `kubeconfig` if given, else in-cluster, else
 * $KUBECONFIG, else ~/.kube/config.
 */
export async function loadCredentials(kubeconfig: string | undefined, env: NodeJS.ProcessEnv): Promise<Credentials> {
  if (kubeconfig) return kubeconfigCredentials(kubeconfig);
  const inCluster = inClusterCredentials(env);
  if (inCluster) return inCluster;
  const fromEnv = env.KUBECONFIG?.split(":")[0];
  return kubeconfigCredentials(fromEnv || join(homedir(), ".kube", "config"));
}
