/**
 * Where the harness finds its binaries: the cache that tools/build-kube.sh,
 * tools/build-etcd.sh and tools/fetch-helm.sh fill (mk/cluster.mk runs them as
 * part of `make test-deps`), keyed by version.
 */
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { HarnessError } from "./errors.ts";

/** Versions the tools build; keep in step with tools/*.sh. */
export const KUBE_VERSION = process.env.PODPLUG_KUBE_VERSION ?? "v1.32.13";
export const ETCD_VERSION = process.env.PODPLUG_ETCD_VERSION ?? "v3.5.21";
export const HELM_VERSION = "v3.17.2";

/** The cache root, as the Makefile exports it. */
export function cacheDir(): string {
  return process.env.PODPLUG_CACHE ?? join(homedir(), ".cache", "podplug");
}

function executable(path: string, what: string, tool: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new HarnessError(
      "PODPLUG_CLUSTER_BINARY_MISSING",
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
