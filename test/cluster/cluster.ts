/**
 * The test cluster: components started in order on loopback with per-run
 * certificates, stopped in reverse. Today etcd + kube-apiserver (the envtest
 * set); a later issue appends the scheduler, controller-manager, containerd
 * and kubelet to `components`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeApiserver } from "./apiserver.ts";
import { kubectlBinary } from "./binaries.ts";
import { generateCerts } from "./certs.ts";
import type { ClusterContext, Component } from "./component.ts";
import { HarnessError } from "./errors.ts";
import { Etcd } from "./etcd.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { type CommandResult, run, runOk } from "./kubectl.ts";

/** A running etcd + kube-apiserver (+ later a node). */
export class TestCluster {
  readonly ctx: ClusterContext;
  readonly components: Component[];
  private isStarted = false;

  constructor(components?: Component[]) {
    const dir = mkdtempSync(join(tmpdir(), "podplug-cluster-"));
    this.ctx = { dir, certs: generateCerts(dir), endpoints: new Map() };
    this.components = components ?? [new Etcd(), new KubeApiserver()];
  }

  /** Starts every component in order; on failure stops what started. */
  async start(): Promise<void> {
    try {
      for (const c of this.components) await c.start(this.ctx);
      this.isStarted = true;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops every component in reverse order and removes the run folder unless PODPLUG_KEEP_CLUSTER is set. */
  async stop(): Promise<void> {
    for (const c of [...this.components].reverse()) await c.stop();
    this.isStarted = false;
    if (!process.env.PODPLUG_KEEP_CLUSTER) rmSync(this.ctx.dir, { recursive: true, force: true });
  }

  /** The component named `name`. */
  component(name: string): Component {
    const c = this.components.find((x) => x.name === name);
    if (!c)
      throw new HarnessError(
        "CLUSTER_START_FAILED",
        `no component ${name} in this cluster (have ${this.components.map((x) => x.name).join(", ")})`,
      );
    return c;
  }

  /** Stops and starts one component (e.g. the apiserver), keeping its address. */
  async restart(name: string): Promise<void> {
    const c = this.component(name);
    await c.stop();
    await c.start(this.ctx);
  }

  /** The admin kubeconfig path. */
  get kubeconfig(): string {
    if (!this.ctx.kubeconfig)
      throw new HarnessError("CLUSTER_NOT_READY", "the cluster has no kubeconfig yet: await start() first");
    return this.ctx.kubeconfig;
  }

  /** The apiserver URL. */
  get server(): string {
    const s = this.ctx.endpoints.get("apiserver");
    if (!s) throw new HarnessError("CLUSTER_NOT_READY", "the apiserver has not started: await start() first");
    return s;
  }

  /** Writes (once) and returns a kubeconfig that impersonates `user`. */
  impersonatingKubeconfig(user: string): string {
    const path = join(this.ctx.dir, `kubeconfig-as-${user.replace(/[^a-zA-Z0-9-]/g, "_")}`);
    writeKubeconfig(path, this.server, this.ctx.certs, user);
    return path;
  }

  /** Environment for child processes that talk to this cluster. */
  env(kubeconfig = this.kubeconfig): NodeJS.ProcessEnv {
    return { ...process.env, KUBECONFIG: kubeconfig };
  }

  /** Runs kubectl as admin; resolves whatever the exit code. */
  kubectl(args: string[], stdin?: string, kubeconfig?: string): Promise<CommandResult> {
    return run(kubectlBinary(), args, { stdin, env: this.env(kubeconfig) });
  }

  /** Runs kubectl as admin and returns stdout; throws on a non-zero exit. */
  kubectlOk(args: string[], stdin?: string, kubeconfig?: string): Promise<string> {
    return runOk(kubectlBinary(), args, { stdin, env: this.env(kubeconfig) });
  }

  get started(): boolean {
    return this.isStarted;
  }
}
