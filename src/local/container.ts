/**
 * One container of a local pod as a supervised process: started by its
 * command, restarted with back-off when it exits (as its restart policy
 * says) or fails its liveness probe, its output logged with its name.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import type { V1Probe } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SIDECAR_ENV } from "../constants.ts";
import { Backoff, type BackoffOptions } from "../process/backoff.ts";
import { defaultCompileCacheDir, useCompileCache } from "../process/compile-cache.ts";
import { describeExit, exitOf, hasExited, type ProcessExit, terminate } from "../process/exit.ts";
import { readLines } from "../process/lines.ts";
import { logOutputLine } from "../process/output.ts";
import { spawnGuarded } from "../process/spawn.ts";
import { removeHandshakeFile, writeHandshakeFile } from "../protocol/sidecar.ts";
import { announce } from "./launcher.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { type ProbeContext, ProbeRunner } from "./probe.ts";

/** What a local container runs. */
export interface ContainerSpec {
  name: string;
  /** The plugin's name when this is a plugin sidecar. */
  plugin?: string;
  role: "plugin" | "host" | "init";
  /** Its command ran under podplug-launcher: the runtime announces the first stdout line (launcher.ts). */
  launcher?: boolean;
  /** Restarts when it exits (sidecars, and main containers with restartPolicy Always). */
  restart: "Always" | "OnFailure" | "Never";
  command: string[];
  env: Record<string, string>;
  cwd: string;
  startupProbe?: V1Probe;
  livenessProbe?: V1Probe;
  readinessProbe?: V1Probe;
  probeContext: ProbeContext;
  /** terminationGracePeriodSeconds, in ms. */
  graceMs: number;
  /** Its own user (a plugin, when the run isolates plugins); else the runtime's. */
  user?: { uid: number; gid: number };
  /** Its umask, when not the runtime's. */
  umask?: number;
  /** A host's local port named `metrics`: the live view reads its call metrics there. */
  metricsPort?: number;
}

export type ContainerState = "waiting" | "running" | "crash-loop" | "terminated";

/** A container's supervisor. Emits "started" (startup probe passed or none) and "state". */
export class LocalContainer extends EventEmitter {
  readonly spec: ContainerSpec;
  readonly pod: string;
  state: ContainerState = "waiting";
  ready = false;
  restarts = 0;
  pid: number | undefined;
  startedAt: number | undefined;
  /** How the last run ended ("exit status 2", "liveness probe failed (signal SIGKILL)"); kept across restarts. */
  lastExit: string | undefined;
  /** Why the runtime is stopping the current run, for lastExit. */
  private killReason: string | undefined;
  private child: ChildProcess | undefined;
  private probes: ProbeRunner[] = [];
  private stopping = false;
  private readonly backoff: Backoff;
  private cacheEnv: Record<string, string> | undefined;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The handshake file line the runtime wrote for the current run (launcher containers). */
  private announced: { file: string; line: string } | undefined;

  constructor(pod: string, spec: ContainerSpec, log: Logger, metrics: RuntimeMetrics, backoff: BackoffOptions) {
    super();
    this.pod = pod;
    this.spec = spec;
    this.log = log.child(spec.plugin ? { container: spec.name, plugin: spec.plugin } : { container: spec.name });
    this.metrics = metrics;
    this.backoff = new Backoff(backoff);
  }

  private labels(): { pod: string; container: string } {
    return { pod: this.pod, container: this.spec.name };
  }

  /**
   * The container's environment, plus V8's compile cache for a Node process that runs as this user
   * (a restart then starts warm); one under a uid of its own could not write this user's folder.
   */
  private env(): Record<string, string> {
    if (this.spec.user) return this.spec.env;
    if (this.cacheEnv === undefined) {
      this.cacheEnv = { ...this.spec.env };
      useCompileCache(this.cacheEnv, defaultCompileCacheDir());
    }
    return this.cacheEnv;
  }

  /** Starts the process (again). */
  start(): void {
    if (this.stopping) return;
    const [cmd, ...args] = this.spec.command;
    const child = spawnGuarded(cmd!, args, {
      env: this.env(),
      cwd: this.spec.cwd,
      detached: true,
      ...(this.spec.user ? { user: this.spec.user } : {}),
      ...(this.spec.umask !== undefined ? { umask: this.spec.umask } : {}),
    });
    this.child = child;
    this.pid = child.pid;
    this.startedAt = Date.now();
    this.setState("running");
    this.metrics.up.set(this.labels(), 1);
    this.log.info({ pid: child.pid, restarts: this.restarts, uid: this.spec.user?.uid }, "container started");
    const state = { inPanic: false };
    // Plugin output is hclog; other containers' lines are logged as they come.
    let first = this.spec.launcher === true;
    readLines(child.stdout!, (l) => {
      if (first) {
        first = false;
        this.announce(child, l);
      }
      logOutputLine(this.log, l, "stdout", state, "info");
    });
    readLines(child.stderr!, (l) => logOutputLine(this.log, l, "stderr", state, "info"));
    child.once("error", (e) => this.log.error({ err: e.message }, "container could not start"));
    // "close" comes after both pipes ended, so every line is logged before the exit.
    this.exited = exitOf(child).then((exit) => this.onExit(child, exit));
    this.startProbes(child);
  }

  /** The launcher's job for the first stdout line: check it, then write it to the handshake file, or stop the plugin. */
  private announce(child: ChildProcess, line: string): void {
    const a = announce(line, this.spec.env);
    if (!a.ok) {
      this.log.error({ code: a.code }, a.message);
      void this.kill(child, a.code);
      return;
    }
    const file = this.spec.env[SIDECAR_ENV.handshakeFile];
    if (!file) return;
    writeHandshakeFile(file, a.line);
    this.announced = { file, line: a.line };
  }

  private startProbes(child: ChildProcess): void {
    this.stopProbes();
    const ctx = this.spec.probeContext;
    const fail = (kind: string) => () => this.metrics.probeFailures.inc({ ...this.labels(), probe: kind });
    const live = (): void => {
      if (this.spec.livenessProbe) {
        this.add(
          new ProbeRunner(
            "liveness",
            this.spec.livenessProbe,
            ctx,
            (ok) => {
              if (!ok && this.child === child) void this.kill(child, "liveness probe failed");
            },
            fail("liveness"),
          ),
        );
      }
      if (this.spec.readinessProbe) {
        this.add(
          new ProbeRunner("readiness", this.spec.readinessProbe, ctx, (ok) => this.setReady(ok), fail("readiness")),
        );
      } else this.setReady(true);
    };
    if (this.spec.startupProbe) {
      this.add(
        new ProbeRunner(
          "startup",
          this.spec.startupProbe,
          ctx,
          (ok) => {
            if (this.child !== child) return;
            if (ok) {
              this.probes.find((p) => p.kind === "startup")?.stop();
              this.emit("started");
              live();
            } else void this.kill(child, "startup probe failed");
          },
          fail("startup"),
        ),
      );
    } else {
      setImmediate(() => this.emit("started"));
      live();
    }
  }

  private add(p: ProbeRunner): void {
    this.probes.push(p);
    p.start();
  }

  private stopProbes(): void {
    for (const p of this.probes) p.stop();
    this.probes = [];
  }

  private setReady(ok: boolean): void {
    this.ready = ok;
    this.metrics.ready.set(this.labels(), ok ? 1 : 0);
    this.emit("state");
  }

  private setState(s: ContainerState): void {
    this.state = s;
    this.metrics.crashLoop.set(this.labels(), s === "crash-loop" ? 1 : 0);
    this.emit("state");
  }

  /** A liveness or startup failure: stop the process as the kubelet does (TERM, grace, KILL); the exit restarts it. */
  private async kill(child: ChildProcess, reason: string): Promise<void> {
    this.log.warn({ reason }, "killing container");
    this.killReason = reason;
    await terminate(child, this.spec.graceMs);
  }

  private onExit(child: ChildProcess, exit: ProcessExit): void {
    const { code } = exit;
    if (this.child !== child) return;
    this.stopProbes();
    // As the launcher does when its plugin exits: a reader must not take a dead plugin's line for a live one.
    if (this.announced) removeHandshakeFile(this.announced.file, this.announced.line);
    this.announced = undefined;
    this.setReady(false);
    this.metrics.up.set(this.labels(), 0);
    const uptime = Date.now() - (this.startedAt ?? Date.now());
    const how = describeExit(exit);
    this.lastExit = this.killReason ? `${this.killReason} (${how})` : how;
    this.killReason = undefined;
    this.pid = undefined;
    if (this.stopping) {
      this.setState("terminated");
      return;
    }
    const again = this.spec.restart === "Always" || (this.spec.restart === "OnFailure" && code !== 0);
    if (!again) {
      this.log.info({ how }, "container exited");
      this.setState("terminated");
      this.emit("terminated", code);
      return;
    }
    const step = this.backoff.next(uptime);
    this.setState(step.crashLoop ? "crash-loop" : "waiting");
    const fields = { how, restartInMs: step.delayMs, failures: step.failures };
    if (step.crashLoop) this.log.error(fields, "container is in CrashLoopBackOff");
    else this.log.warn(fields, "container exited; restarting");
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.restarts++;
      this.metrics.restarts.inc(this.labels());
      this.start();
    }, step.delayMs);
  }

  /** Stops for good: SIGTERM, then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.stopProbes();
    const child = this.child;
    if (child && !hasExited(child)) await terminate(child, this.spec.graceMs);
    await this.exited;
    this.setState("terminated");
  }
}
