/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it: acquire when the holder's renewTime has not moved
 * for leaseDuration (measured on our clock, so skew does not matter), renew
 * every retryPeriod, step down if renewals fail for renewDeadline, release
 * on shutdown so the standby takes over at once.
 */
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";
import { KubeApiError, OperatorError } from "./errors.ts";

/** Lease timing, in seconds (client-go's defaults). */
export interface LeaderTiming {
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

// MicroTime format the Lease API expects.
const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

/** Runs the election; `onStarted` fires on becoming leader, `onStopped` on losing it. */
export class LeaderElector {
  readonly identity: string;
  private readonly client: KubeClient;
  private readonly ns: string;
  private readonly name: string;
  private readonly timing: LeaderTiming;
  private readonly log: Logger;
  private leader = false;
  private stopped = false;
  private observedRenew = "";
  private observedAt = 0;
  private lastRenewOk = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    client: KubeClient,
    namespace: string,
    name: string,
    identity: string,
    log: Logger,
    timing: LeaderTiming = { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
  ) {
    this.client = client;
    this.ns = namespace;
    this.name = name;
    this.identity = identity;
    this.timing = timing;
    this.log = log.child({ lease: `${namespace}/${name}` });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.ns}/leases/${this.name}`;
  }

  /**
   * Tries until leader (calls onStarted), then keeps renewing; onStopped on
   * loss; onFatal (and no more tries) when retrying cannot help.
   */
  run(onStarted: () => void, onStopped: () => void, onFatal: (err: OperatorError) => void = () => undefined): void {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const ok = await this.tryAcquireOrRenew();
        if (ok) {
          this.lastRenewOk = Date.now();
          if (!this.leader) {
            this.leader = true;
            this.log.info("became leader");
            onStarted();
          }
        } else if (this.leader) {
          this.lose(onStopped, "another replica holds the lease");
        }
      } catch (err) {
        if (err instanceof OperatorError && err.code === "OPERATOR_LEASE_NAMESPACE") {
          this.stopped = true;
          onFatal(err);
          return;
        }
        this.log.warn({ err: (err as Error).message }, "lease acquire/renew failed");
        if (this.leader && Date.now() - this.lastRenewOk > this.timing.renewDeadlineSeconds * 1000) {
          this.lose(onStopped, `could not renew for ${this.timing.renewDeadlineSeconds}s`);
        }
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.timing.retryPeriodSeconds * 1000);
    };
    void tick();
  }

  private lose(onStopped: () => void, why: string): void {
    this.leader = false;
    this.log.warn({ why }, "lost leadership");
    onStopped();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.client.request<Lease>("GET", this.path, { timeoutMs: 5000 });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.timing.leaseDurationSeconds,
      renewTime: microTime(now),
    };
    if (!lease) {
      try {
        await this.client.request("POST", `/apis/coordination.k8s.io/v1/namespaces/${this.ns}/leases`, {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.name, namespace: this.ns },
            spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
          },
          timeoutMs: 5000,
        });
      } catch (err) {
        // Creating in a namespace that does not exist is 404 (a missing Lease alone is not).
        if (err instanceof KubeApiError && err.status === 404) {
          throw new OperatorError(
            "OPERATOR_LEASE_NAMESPACE",
            `the leader-election namespace ${this.ns} does not exist: create it (kubectl create namespace ${this.ns}), pass --leader-election-namespace=<an existing namespace>, or run one replica with --leader-elect=false`,
            { namespace: this.ns, lease: this.name },
            { cause: err },
          );
        }
        throw err;
      }
      return true;
    }
    const holder = lease.spec.holderIdentity ?? "";
    const renew = lease.spec.renewTime ?? "";
    if (renew !== this.observedRenew) {
      this.observedRenew = renew;
      this.observedAt = Date.now();
    }
    const duration = (lease.spec.leaseDurationSeconds ?? this.timing.leaseDurationSeconds) * 1000;
    const heldByOther = holder !== "" && holder !== this.identity;
    if (heldByOther && Date.now() - this.observedAt < duration) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        ...spec,
        acquireTime: holder === this.identity ? lease.spec.acquireTime : microTime(now),
        leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1),
      },
    };
    // The resourceVersion in the body makes this a compare-and-swap: a 409 means someone else won.
    try {
      await this.client.request("PUT", this.path, { body: next, timeoutMs: 5000 });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
    return true;
  }

  /** Stops the loop; if leader, hands the lease back (holder cleared, 1 s duration). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leader) return;
    this.leader = false;
    try {
      const lease = await this.client.request<Lease>("GET", this.path, { timeoutMs: 3000 });
      if (lease.spec.holderIdentity === this.identity) {
        lease.spec.holderIdentity = null;
        lease.spec.leaseDurationSeconds = 1;
        await this.client.request("PUT", this.path, { body: lease, timeoutMs: 3000 });
      }
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        "could not release the lease; the standby takes over after it expires",
      );
    }
  }
}
