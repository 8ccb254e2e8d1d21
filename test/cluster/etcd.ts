/** etcd on loopback, plain HTTP, data in the run folder. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { etcdBinary } from "./binaries.ts";
import type { ClusterContext, Component } from "./component.ts";
import { freePort } from "./ports.ts";
import { ManagedProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

// etcd reads every ETCD_* variable as a flag: keep the caller's out.
function etcdEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
}

/** Publishes its client URL as endpoint `etcd`. */
export class Etcd implements Component {
  readonly name = "etcd";
  private proc: ManagedProcess | undefined;

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  async start(ctx: ClusterContext): Promise<void> {
    const bin = etcdBinary();
    const clientPort = await freePort();
    const peerPort = await freePort();
    const dataDir = join(ctx.dir, "etcd-data");
    mkdirSync(dataDir, { recursive: true });
    const url = `http://127.0.0.1:${clientPort}`;
    this.proc = new ManagedProcess(
      "etcd",
      bin,
      [
        "--name=podplug-test",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=podplug-test=http://127.0.0.1:${peerPort}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      join(ctx.dir, "etcd.log"),
      etcdEnv(),
    );
    const proc = this.proc;
    await waitFor(
      "etcd /health",
      async () => {
        proc.assertRunning();
        const res = await fetch(`${url}/health`);
        return res.ok;
      },
      30_000,
    );
    ctx.endpoints.set("etcd", url);
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}
