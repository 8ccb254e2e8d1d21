/**
 * Kubelet probe semantics for local containers: httpGet, tcpSocket, exec and
 * grpc handlers; initialDelay, period, timeout, success and failure
 * thresholds. A startup probe gates liveness and readiness.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { connect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { V1Probe } from "@kubernetes/client-node";
import { type HealthCheckResponse, HealthClient } from "../gen/grpc/health/v1/health.ts";
import { isLauncherExec, launcherExec } from "./launcher.ts";

/** How a probe reaches its container locally. */
export interface ProbeContext {
  /** Pod ports to local ports (containers share localhost as a pod shares its network). */
  port(p: number | string): number;
  env: Record<string, string>;
  cwd: string;
}

/** Runs the probe's handler once; true on success. */
export function probeOnce(probe: V1Probe, ctx: ProbeContext): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const hg = probe.httpGet;
    return new Promise((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: ctx.port(hg.port), path: hg.path ?? "/", method: "GET", timeout: timeoutMs },
        (res) => {
          res.resume();
          resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
        },
      );
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = ctx.port(probe.tcpSocket.port);
    return new Promise((resolve) => {
      const s = connect(port, "127.0.0.1");
      const t = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(t);
        s.destroy();
        resolve(ok);
      };
      s.once("connect", () => done(true));
      s.once("error", () => done(false));
    });
  }
  if (isLauncherExec(probe.exec?.command)) {
    // The injection's exec probes: answered in-process (launcher.ts), within the probe's timeout as the kubelet's.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((r) => (timer = setTimeout(() => r("probe timed out"), timeoutMs)));
    return Promise.race([launcherExec(probe.exec!.command!, ctx.env, timeoutMs), late]).then((reason) => {
      clearTimeout(timer);
      return reason === undefined;
    });
  }
  if (probe.exec?.command && probe.exec.command.length > 0) {
    const [cmd, ...args] = probe.exec.command;
    return new Promise((resolve) => {
      const p = spawn(cmd!, args, { env: ctx.env, cwd: ctx.cwd, stdio: "ignore" });
      const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
      p.once("error", () => resolve(false));
      p.once("close", (code) => {
        clearTimeout(t);
        resolve(code === 0);
      });
    });
  }
  if (probe.grpc) {
    const client = new HealthClient(`127.0.0.1:${ctx.port(probe.grpc.port)}`, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.check(
        { service: probe.grpc!.service ?? "" },
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, r?: HealthCheckResponse) => {
          client.close();
          resolve(!err && r?.status === 1);
        },
      );
    });
  }
  return Promise.resolve(false);
}

/** A probe's running state, fed by {@link ProbeRunner}. */
export type ProbeKind = "startup" | "liveness" | "readiness";

/** Runs one probe on its period and reports threshold crossings. */
export class ProbeRunner {
  private timer: NodeJS.Timeout | undefined;
  private successes = 0;
  private failures = 0;
  private state: boolean | undefined;
  private stopped = false;
  readonly kind: ProbeKind;
  private readonly probe: V1Probe;
  private readonly ctx: ProbeContext;
  private readonly onResult: (ok: boolean) => void;
  private readonly onFailure: () => void;

  /**
   * `onResult` fires when the probe's verdict changes (after its thresholds);
   * `onFailure` on every single failed attempt (for metrics).
   */
  constructor(
    kind: ProbeKind,
    probe: V1Probe,
    ctx: ProbeContext,
    onResult: (ok: boolean) => void,
    onFailure: () => void = () => {},
  ) {
    this.kind = kind;
    this.probe = probe;
    this.ctx = ctx;
    this.onResult = onResult;
    this.onFailure = onFailure;
  }

  start(): void {
    const delay = (this.probe.initialDelaySeconds ?? 0) * 1000;
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const ok = await probeOnce(this.probe, this.ctx);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (this.state !== true && this.successes >= (this.probe.successThreshold ?? 1)) {
        this.state = true;
        this.onResult(true);
      }
    } else {
      this.onFailure();
      this.successes = 0;
      this.failures++;
      if (this.state !== false && this.failures >= (this.probe.failureThreshold ?? 3)) {
        this.state = false;
        this.failures = 0;
        this.onResult(false);
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), (this.probe.periodSeconds ?? 10) * 1000);
  }
}
