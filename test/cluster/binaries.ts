/**
 * Where the harness finds its binaries: the cache that tools/build-kube.sh,
 * tools/build-etcd.sh and tools/fetch-helm.sh fill (mk/cluster.mk runs them as
 * part of `make test-deps`), keyed by version.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { HarnessError } from "./errors.ts";

/** The pinned tool versions of mk/versions.env; an environment variable of the same name wins, as in tools/*.sh. */
export function pinnedVersion(name: string): string {
  const fromEnv = process.env[name];
  if (fromEnv) return fromEnv;
  const file = new URL("../../mk/versions.env", import.meta.url);
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] === name && m[2]) return m[2];
  }
  throw new HarnessError("CLUSTER_VERSION_MISSING", `${name} is not set in mk/versions.env`);
}

export const KUBE_VERSION = pinnedVersion("PODPLUG_KUBE_VERSION");
export const ETCD_VERSION = pinnedVersion("PODPLUG_ETCD_VERSION");
export const HELM_VERSION = pinnedVersion("PODPLUG_HELM_VERSION");

/** The cache root, as the Makefile exports it. */
export function cacheDir(): string {
  return process.env.PODPLUG_CACHE ?? join(homedir(), ".cache", "podplug");
}

function executable(path: string, what: string, tool: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new HarnessError(
      "CLUSTER_BINARY_MISSING",
      `${what} not found at ${path}: run \`make test-deps\` (or ${tool}) to build it into the cache`,
    );
  }
  return path;
}

/** Path of a Kubernetes component (kube-apiserver, later kubelet, ...). */
export function kubeBinary(component: string): string {
  return executable(join(cacheDir(), "kube", KUBE_VERSION, component), component, "tools/build-kube.sh");
}

/** Path of etcd. */
export function etcdBinary(): string {
  return executable(join(cacheDir(), "etcd", ETCD_VERSION, "etcd"), "etcd", "tools/build-etcd.sh");
}

/** Path of helm. */
export function helmBinary(): string {
  return executable(join(cacheDir(), "helm", HELM_VERSION, "helm"), "helm", "tools/fetch-helm.sh");
}

/** kubectl: the preinstalled one on PATH (its minor picks KUBE_VERSION). */
export function kubectlBinary(): string {
  return process.env.KUBECTL ?? "kubectl";
}
