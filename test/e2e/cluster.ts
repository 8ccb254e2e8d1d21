/**
 * The cluster the e2e suite runs against. By default the harness's own real
 * node (test/node), started once for the whole suite. With
 * PODPLUG_E2E_KUBECONFIG (what `make e2e KUBECONFIG=...` sets) any other
 * cluster, e.g. kind: images are loaded with PODPLUG_E2E_LOAD (default
 * `kind load image-archive`) and container signals go through
 * PODPLUG_E2E_NODE_EXEC (default `docker exec {node}`) to the node's ctr.
 * See docs/e2e.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { helmBinary, kubectlBinary } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import { type CommandResult, run } from "../cluster/kubectl.ts";
import { digestRef } from "../node/images.ts";
import type { ImageArchive, RealNode } from "../node/node.ts";

/** What every e2e test may do to its cluster. */
export interface E2ECluster {
  /** "podplug-node" (the harness's node) or "external". */
  readonly kind: "podplug-node" | "external";
  /** Images loaded for the suite (pause, tools, the project's images). */
  readonly images: ImageArchive[];
  kubectl(args: string[], stdin?: string, timeoutMs?: number): Promise<CommandResult>;
  helm(args: string[], timeoutMs?: number): Promise<CommandResult>;
  /** Sends a signal to one container's main process on its node, by CRI container id. */
  signalContainer(
    nodeName: string,
    containerID: string,
    signal: "SIGKILL" | "SIGSTOP" | "SIGCONT" | "SIGTERM",
  ): Promise<void>;
  /** Stops and starts the kubelet process of a node; its containers keep running under containerd. */
  restartKubelet(nodeName: string): Promise<void>;
  stop(): Promise<void>;
}

/** kubectl that throws, with the output, on a non-zero exit. */
export async function kubectlOk(c: E2ECluster, args: string[], stdin?: string, timeoutMs?: number): Promise<string> {
  const r = await c.kubectl(args, stdin, timeoutMs);
  if (r.code !== 0)
    throw new HarnessError(
      "CLUSTER_COMMAND_FAILED",
      `kubectl ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`,
    );
  return r.stdout;
}

function helmEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HELM_CACHE_HOME: join(dir, "helm-cache"),
    HELM_CONFIG_HOME: join(dir, "helm-config"),
    HELM_DATA_HOME: join(dir, "helm-data"),
  };
}

/** The harness's node: clients run inside its network namespace. */
export class NodeCluster implements E2ECluster {
  readonly kind = "podplug-node";
  readonly node: RealNode;
  readonly images: ImageArchive[];

  constructor(node: RealNode, images: ImageArchive[]) {
    this.node = node;
    this.images = images;
  }

  kubectl(args: string[], stdin?: string, timeoutMs?: number): Promise<CommandResult> {
    return this.node.kubectl(args, stdin, timeoutMs);
  }

  helm(args: string[], timeoutMs = 120_000): Promise<CommandResult> {
    return this.node.inNet(helmBinary(), ["--kubeconfig", this.node.kubeconfig, ...args], {
      env: helmEnv(this.node.dir),
      timeoutMs,
    });
  }

  signalContainer(_nodeName: string, containerID: string, signal: string): Promise<void> {
    return this.node.signalContainer(containerID, signal);
  }

  restartKubelet(_nodeName: string): Promise<void> {
    return this.node.restartKubelet();
  }

  stop(): Promise<void> {
    return this.node.down();
  }
}

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== "");
}

/** Any cluster, by kubeconfig. */
export class ExternalCluster implements E2ECluster {
  readonly kind = "external";
  readonly kubeconfig: string;
  readonly images: ImageArchive[];
  private readonly dir = mkdtempSync(join(tmpdir(), "podplug-e2e-"));

  constructor(kubeconfig: string, images: ImageArchive[]) {
    this.kubeconfig = kubeconfig;
    this.images = images;
  }

  /** Loads every archive with PODPLUG_E2E_LOAD (default `kind load image-archive`), the archive path appended. */
  async load(): Promise<void> {
    const loader = words(process.env.PODPLUG_E2E_LOAD ?? "kind load image-archive");
    const [bin, ...pre] = loader;
    if (!bin) return;
    for (const i of this.images) {
      const r = await run(bin, [...pre, i.archive], { timeoutMs: 300_000 });
      if (r.code !== 0)
        throw new HarnessError(
          "CLUSTER_COMMAND_FAILED",
          `loading ${i.ref} with \`${loader.join(" ")} ${i.archive}\` failed (set PODPLUG_E2E_LOAD to your cluster's loader):\n${r.stderr}`,
        );
    }
    // A loaded archive is known by its tag only; a registry pull also leaves the repository digest, which a
    // Plugin pinned by digest names. Each node's containerd gets that name too (through PODPLUG_E2E_NODE_EXEC).
    const nodes = (await this.kubectl(["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.split(
      /\s+/,
    );
    for (const n of nodes.filter(Boolean))
      for (const i of this.images) {
        const ref = digestRef(i);
        if (ref) await this.onNode(n, ["ctr", "-n", "k8s.io", "images", "tag", "--force", i.ref, ref], `naming ${ref}`);
      }
  }

  kubectl(args: string[], stdin?: string, timeoutMs?: number): Promise<CommandResult> {
    return run(
      kubectlBinary(),
      ["--kubeconfig", this.kubeconfig, "--cache-dir", join(this.dir, "kubectl-cache"), ...args],
      {
        stdin,
        timeoutMs,
      },
    );
  }

  helm(args: string[], timeoutMs = 120_000): Promise<CommandResult> {
    return run(helmBinary(), ["--kubeconfig", this.kubeconfig, ...args], { env: helmEnv(this.dir), timeoutMs });
  }

  /** Runs `ctr -n k8s.io tasks kill` on the pod's node through PODPLUG_E2E_NODE_EXEC ({node} = the node name). */
  async signalContainer(nodeName: string, containerID: string, signal: string): Promise<void> {
    const id = containerID.replace(/^containerd:\/\//, "");
    await this.onNode(nodeName, ["ctr", "-n", "k8s.io", "tasks", "kill", "--signal", signal, id], `signalling ${id}`);
  }

  /** `systemctl restart kubelet` on the node through PODPLUG_E2E_NODE_EXEC (kind's nodes run systemd). */
  async restartKubelet(nodeName: string): Promise<void> {
    await this.onNode(nodeName, ["systemctl", "restart", "kubelet"], "restarting the kubelet");
  }

  private async onNode(nodeName: string, cmd: string[], what: string): Promise<void> {
    const exec = words(process.env.PODPLUG_E2E_NODE_EXEC ?? "docker exec {node}").map((w) =>
      w.replaceAll("{node}", nodeName),
    );
    const [bin, ...pre] = exec;
    if (!bin) throw new HarnessError("CLUSTER_COMMAND_FAILED", "PODPLUG_E2E_NODE_EXEC is empty");
    const r = await run(bin, [...pre, ...cmd]);
    if (r.code !== 0)
      throw new HarnessError(
        "CLUSTER_COMMAND_FAILED",
        `${what} on ${nodeName} via \`${exec.join(" ")}\` failed (set PODPLUG_E2E_NODE_EXEC):\n${r.stderr}`,
      );
  }

  async stop(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
