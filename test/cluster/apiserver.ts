/**
 * kube-apiserver on 127.0.0.1 with the run's certificates, RBAC on, and the
 * admin kubeconfig written once /readyz answers.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { kubeBinary } from "./binaries.ts";
import type { ClusterContext, Component } from "./component.ts";
import { HarnessError } from "./errors.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { freePort } from "./ports.ts";
import { ManagedProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

/** GETs `path` on the apiserver as admin; resolves with the status code and body. */
export function adminGet(ctx: ClusterContext, server: string, path: string): Promise<{ status: number; body: string }> {
  const agent = new Agent({
    ca: readFileSync(ctx.certs.caCert),
    cert: readFileSync(ctx.certs.adminCert),
    key: readFileSync(ctx.certs.adminKey),
    keepAlive: false,
  });
  return new Promise((resolve, reject) => {
    const req = request(`${server}${path}`, { agent, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** Publishes its URL as endpoint `apiserver` and sets ctx.kubeconfig. */
export class KubeApiserver implements Component {
  readonly name = "kube-apiserver";
  private proc: ManagedProcess | undefined;
  private port = 0;
  /** Extra flags, e.g. admission plugins a later node setup needs. */
  readonly extraArgs: string[];

  constructor(extraArgs: string[] = []) {
    this.extraArgs = extraArgs;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  async start(ctx: ClusterContext): Promise<void> {
    const bin = kubeBinary("kube-apiserver");
    const etcd = ctx.endpoints.get("etcd");
    if (!etcd)
      throw new HarnessError("CLUSTER_START_FAILED", "kube-apiserver needs etcd: start the etcd component first");
    // A restart keeps its port, so kubeconfigs and clients stay valid.
    if (this.port === 0) this.port = await freePort();
    const server = `https://127.0.0.1:${this.port}`;
    const c = ctx.certs;
    this.proc = new ManagedProcess(
      "kube-apiserver",
      bin,
      [
        `--etcd-servers=${etcd}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${this.port}`,
        `--tls-cert-file=${c.servingCert}`,
        `--tls-private-key-file=${c.servingKey}`,
        `--client-ca-file=${c.caCert}`,
        `--service-account-issuer=https://kubernetes.default.svc`,
        `--service-account-key-file=${c.serviceAccountPub}`,
        `--service-account-signing-key-file=${c.serviceAccountKey}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--profiling=false",
        "--endpoint-reconciler-type=none",
        ...this.extraArgs,
      ],
      join(ctx.dir, "kube-apiserver.log"),
    );
    const proc = this.proc;
    await waitFor(
      "kube-apiserver /readyz",
      async () => {
        proc.assertRunning();
        const res = await adminGet(ctx, server, "/readyz");
        return res.status === 200;
      },
      90_000,
      300,
    );
    ctx.endpoints.set("apiserver", server);
    const kubeconfig = join(ctx.dir, "kubeconfig");
    writeKubeconfig(kubeconfig, server, c);
    ctx.kubeconfig = kubeconfig;
  }

  async stop(): Promise<void> {
    await this.proc?.stop(10_000);
  }
}
