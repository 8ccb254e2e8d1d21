/**
 * One process of the test cluster. The cluster starts components in order and
 * stops them in reverse; a later issue adds the scheduler, controller-manager,
 * kubelet and containerd as more of these.
 */
import type { ClusterCerts } from "./certs.ts";

/** What every component may read when it starts. */
export interface ClusterContext {
  /** The run's private folder (certs, data, logs). */
  dir: string;
  certs: ClusterCerts;
  /** Endpoints filled in by earlier components (etcd URL, apiserver URL, ...). */
  endpoints: Map<string, string>;
  /** The admin kubeconfig, written once the apiserver is up. */
  kubeconfig?: string;
}

/** A startable, stoppable part of the cluster. */
export interface Component {
  readonly name: string;
  /** Starts the process and resolves once it is ready to serve. */
  start(ctx: ClusterContext): Promise<void>;
  /** Stops it; safe to call when it is not running. */
  stop(): Promise<void>;
  /** True while its process runs. */
  readonly running: boolean;
}
