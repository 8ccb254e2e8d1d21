/**
 * The host SDK's `Client`: go-plugin's plugin.Client in TypeScript. It starts
 * a plugin as a child process (or attaches to one serving in a socket folder),
 * validates its handshake, connects, and dispenses typed clients.
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import { type Logger as PinoLogger, pino } from "pino";
import type { Registry } from "prom-client";
import { PLUGIN_ENV, SIDECAR_ENV } from "../constants.ts";
import { isPodplugError, PodplugError } from "../errors.ts";
import { Backoff, type BackoffOptions } from "../process/backoff.ts";
import { defaultCompileCacheDir, useCompileCache } from "../process/compile-cache.ts";
import { describeExit, type ProcessExit, terminate } from "../process/exit.ts";
import { processStartTime } from "../process/identity.ts";
import type { GRPCBroker } from "../protocol/broker.ts";
import { type HandshakeConfig, validateHandshakeConfig } from "../protocol/env.ts";
import { type Handshake, parseHandshake } from "../protocol/handshake.ts";
import { fromPino } from "../protocol/logger.ts";
import { type CertificatePair, handshakeFieldToCert } from "../protocol/mtls.ts";
import { dialMultiplexed, type MainBridge, type Multiplexer } from "../protocol/multiplex.ts";
import type { ClientConstructor, ClientOf, PluginConnection, PluginSet } from "../protocol/plugin.ts";
import { parseReattachConfig, type ReattachConfig, validateReattachConfig } from "../protocol/reattach.ts";
import {
  checkExecutable,
  resolveExecutable,
  type SecureConfig,
  validateSecureConfig,
} from "../protocol/secure-config.ts";
import { applySocketGroup, resolveGroup, setGroupWritable } from "../protocol/socket.ts";
import { shareSocket } from "../protocol/socket-access.ts";
import { insecureTransport, mtlsTransport, type TransportSecurity } from "../protocol/transport.ts";
import { podplugTracing, type Tracing } from "../tracing/tracer.ts";
import { directClient } from "../transport/unary-client.ts";
import { type AttachConfig, type HostExpectations, readCertDir, waitForPlugin } from "./attach.ts";
import { Connection, type StdioSinks } from "./connection.ts";
import { HostBroker } from "./host-broker.ts";
import { HostStateFile } from "./host-state.ts";
import { type ClientState, type HostMetrics, hostMetrics, setState } from "./metrics.ts";
import { claimName } from "./names.ts";
import { checkPluginVersion, validRange } from "./plugin-info.ts";
import { type PluginCommand, type StartedProcess, startProcess } from "./process.ts";
import { killReattached, processGone, type ReattachedProcess, reattachTo, waitGone } from "./reattach.ts";
import { type OutagePolicy, ReconnectingChannel } from "./reconnecting-channel.ts";
import { makeSocketDir, type OwnedSocketDir } from "./socket-dir.ts";
import { discard, type Instance, otherSlot, type Slot, Standby } from "./standby.ts";

/** go-plugin's ClientConfig, in TypeScript. Give exactly one of `cmd`, `attach`, `reattach`. */
export interface ClientConfig<P extends PluginSet> {
  /** Must match the plugin's; `protocolVersion` is the version of `plugins`. */
  handshake: HandshakeConfig;
  /** Plugins at `handshake.protocolVersion`. */
  plugins?: P;
  /** Plugins per protocol version; the plugin picks the highest both know. */
  versionedPlugins?: Record<number, P>;
  /** Start the plugin as a child process. */
  cmd?: PluginCommand;
  /**
   * go-plugin's SecureConfig (cmd mode): the checksum of the executable
   * `cmd.command` resolves to, checked before every start; a mismatch fails
   * with CHECKSUM_MISMATCH and nothing is started.
   */
  secureConfig?: SecureConfig;
  /** Attach to a plugin already serving in a socket folder (sidecar mode). */
  attach?: AttachConfig;
  /**
   * go-plugin's Reattach: connect to the plugin a ReattachConfig names (from
   * {@link Client.reattachConfig}, a Go host's `ReattachConfig()`, or one
   * entry of Terraform's TF_REATTACH_PROVIDERS as JSON). Never restarted.
   */
  reattach?: ReattachConfig | string;
  /** A name for logs and errors (default: the command's or folder's base name). */
  name?: string;
  /** The host's pino logger; the client logs on a child bound to `plugin: name` (default: pino JSON at info on stderr). */
  logger?: PinoLogger;
  /** How long to wait for the handshake (go-plugin's StartTimeout, default 60 s). */
  startTimeoutMs?: number;
  /** go-plugin's AutoMTLS: throwaway certificates, mutual TLS on every socket. */
  autoMTLS?: boolean;
  /**
   * go-plugin's TLSConfig: explicit mutual TLS (every mode, for a plugin that
   * announces no AutoMTLS certificate): this host's certificate and key, and
   * the CA the plugin's certificate must chain to. Its name must be
   * `localhost`, as go-plugin's.
   */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /**
   * go-plugin's GRPCDialOptions, for what Go hosts use them for: grpc-js
   * client interceptors on every client `dispense()` builds (not on podplug's
   * own health, broker and stdio calls).
   */
  interceptors?: grpc.Interceptor[];
  /** Attach mode with TLS: the host's certificate the plugin was given in PLUGIN_CLIENT_CERT. */
  hostCertificate?: CertificatePair;
  /** How long kill() waits for a graceful exit before SIGKILL (default 2000 ms, as go-plugin). */
  killTimeoutMs?: number;
  /** Raw copies of the plugin's stdout/stderr stream (go-plugin's SyncStdout/SyncStderr). */
  stdio?: StdioSinks;
  /**
   * go-plugin's Stderr: every byte of the plugin process's own stderr pipe
   * (hclog lines included), besides the log (cmd mode). Not the GRPCStdio copy (`stdio`).
   */
  stderr?: Writable;
  /**
   * go-plugin's UnixSocketConfig.Group (cmd mode): the plugin gets
   * PLUGIN_UNIX_SOCKET_GROUP and gives its sockets this group, mode 0660; the
   * host does the same for the socket folder (0770) and its broker sockets.
   * A group name from /etc/group or a numeric gid.
   */
  socketGroup?: string;
  /** Folder for the plugin's and the host's broker sockets in cmd mode (default: a new temp folder). */
  socketDir?: string;
  /**
   * go-plugin's GRPCBrokerMultiplex: ask for PLUGIN_MULTIPLEX_GRPC, so the main
   * connection and every broker connection ride one yamux session on the
   * plugin's socket (cmd mode only; go-plugin ≥ 1.6 plugins and podplug plugins).
   */
  multiplex?: boolean;
  /**
   * What calls do while the plugin is down: fail at once with UNAVAILABLE
   * (default) or wait for the new process up to their deadline. A call can
   * override it with metadata `x-podplug-outage: wait|fail-fast`.
   */
  outage?: OutagePolicy;
  /**
   * Deadline (ms) of a call made without one; a call's own deadline wins.
   * Default: the Plugin's `spec.calls.deadlineMilliseconds` in attach mode
   * (from sidecarAttach()), else none.
   */
  defaultDeadlineMs?: number;
  /**
   * The plugin versions this host accepts, a semver range (`"^1.2.0"`,
   * `">=1.4 <2"`), checked against the Plugin's `spec.version` (attach mode,
   * from sidecarAttach()) before any traffic: PLUGIN_VERSION_MISMATCH outside
   * it, PLUGIN_VERSION_UNKNOWN when the Plugin declares none.
   */
  versionRange?: string;
  /** Restart (cmd mode) or re-attach (attach mode) after a failure; default true. go-plugin never does. */
  restart?: boolean;
  /** Back-off between restarts. */
  backoff?: BackoffOptions;
  /**
   * Where a Node plugin started in cmd mode keeps V8's compile cache
   * (`NODE_COMPILE_CACHE`), so that its restarts start warm: default a private
   * folder in the user's cache (`~/.cache/podplug/node-compile-cache`), false
   * for none. The plugin environment's own `NODE_COMPILE_CACHE` wins.
   */
  compileCache?: string | false;
  /** Active health checks that catch a hung plugin (default: every 5 s, 2 s timeout, 3 failures). */
  liveness?: LivenessOptions;
  /** Registry for the host metrics (default: prom-client's default registry). */
  metricsRegistry?: Registry;
  /** When the host state file (attach mode with `attach.plugin`) says the plugin is failing. */
  readiness?: ReadinessOptions;
  /**
   * Keep a second, pre-started instance ready (docs/host-authors.md,
   * "Standby"): a spare process in cmd mode; in attach mode the standby
   * sidecar in `attach.standbyDir` (default: on when that is set, as
   * sidecarAttach() does for a Plugin with `spec.standby`). When the active
   * instance fails, calls go to the spare at once and a new spare is started.
   * Each instance has its own state: onConnect hooks run on the spare before
   * it takes calls. Not with `reattach` or `restart: false`.
   */
  standby?: boolean;
  /** false: no per-call metrics (`podplug_host_calls_total`, `podplug_host_call_duration_seconds`); the bench's "metrics off". Default true. */
  callMetrics?: boolean;
}

/**
 * The calls rule of the host state file: after `failedCalls` consecutive calls
 * that ended in a status that says the plugin cannot do its work (UNKNOWN,
 * INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED, DATA_LOSS,
 * RESOURCE_EXHAUSTED) with no OK call between them, the state is `failing`
 * (CALLS_FAILING) until a call succeeds.
 */
export interface ReadinessOptions {
  /** Default 3. */
  failedCalls?: number;
}

/** Statuses that say the plugin cannot serve, not that the caller asked for something wrong (NOT_FOUND, INVALID_ARGUMENT, ...). */
const PLUGIN_FAILURE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNKNOWN,
  grpc.status.INTERNAL,
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.DATA_LOSS,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/** Longest reason the state file carries (the kubelet keeps probe output short too). */
const REASON_MAX = 400;

/** The host's own liveness check of a plugin (health Check of service "plugin"). */
export interface LivenessOptions {
  periodMs?: number;
  timeoutMs?: number;
  failureThreshold?: number;
}

/** Given to {@link Client.onConnect} hooks after every (re)connection. */
export interface ConnectContext {
  /** The new connection itself (not the reconnecting facade), for set-up calls. */
  connection: PluginConnection;
  /** The new connection's broker: serve callbacks the plugin needs here. */
  broker: GRPCBroker;
  /** 0 for the first connection, then 1, 2, ... for each restart; for a standby instance, the restarts so far. */
  restarts: number;
  /** True for a standby instance (`standby`): it takes calls only once the active one fails. */
  standby: boolean;
  /** The instance's process id (cmd mode). */
  pid?: number;
}

/** A connected plugin: what `start()` resolves to. */
export interface PluginInfo {
  readonly handshake: Handshake;
  /** The negotiated protocol version. */
  readonly version: number;
  /** The plugin's process id (cmd mode). */
  readonly pid?: number;
}

/**
 * One plugin, from start to kill. The first `dispense()` starts it; after
 * that the client is long-lived: when the plugin dies, hangs or reports
 * NOT_SERVING, a new process is started (cmd mode) or found (attach mode)
 * with back-off, the {@link onConnect} hooks run again, and the clients
 * already dispensed are re-pointed at it.
 *
 * @example
 * const client = new Client({ handshake, plugins: { kv: kvPlugin }, cmd: { command: "node", args: ["plugin.ts"] } });
 * const kv = await client.dispense("kv");
 * await client.kill();
 */
export class Client<P extends PluginSet> {
  /** The client's name in logs and metrics: `config.name`, or the command's (in cmd mode with `-2`, `-3` when another live client has it), or the folder's. */
  readonly name: string;
  private readonly releaseName: () => void;
  private readonly config: ClientConfig<P>;
  private readonly log: PinoLogger;
  private readonly metrics: HostMetrics;
  private readonly channel: ReconnectingChannel;
  private readonly broker: HostBroker;
  private readonly facade: PluginConnection;
  private readonly backoff: Backoff;
  /** The default compile cache folder, found at the first start (false: none can be made). */
  private compileCacheDir: string | false | undefined;
  private readonly hooks: ((ctx: ConnectContext) => void | Promise<void>)[] = [];
  private starting: Promise<PluginInfo> | undefined;
  private conn: Connection | undefined;
  private readonly tracing: Tracing | undefined;
  /** The open outage span while tracing (see traceState). */
  private outage: Span | undefined;
  private proc: StartedProcess | undefined;
  private info: PluginInfo | undefined;
  private plugins: P | undefined;
  private socketDir: string | undefined;
  private ownedSocketDir: OwnedSocketDir | undefined;
  private readonly dispensed = new Map<string, unknown>();
  private restarts = 0;
  private currentState: ClientState = "starting";
  /** Aborted by kill(): ends waits and back-off sleeps at once. */
  private readonly abort = new AbortController();
  private supervising: Promise<void> | undefined;
  private lastExitSeen: ProcessExit | undefined;
  /** Set when the plugin failed and `restart: false` keeps it down: what dispense() and calls answer. */
  private stoppedError: PodplugError | undefined;
  /** The pod's view of this connection (attach mode with `attach.plugin`). */
  private readonly hostState: HostStateFile | undefined;
  /** Consecutive calls that failed with a plugin-failure status since the last OK one. */
  private failedCalls = 0;
  /** Reattach mode: the config, and the process it names once checked. */
  private readonly reattach: ReattachConfig | undefined;
  private reattached: ReattachedProcess | undefined;
  /** The spare instance (`standby`), and the slot the active one uses. */
  private readonly standby: Standby | undefined;
  private activeSlot: Slot = 0;
  private failovers = 0;

  constructor(config: ClientConfig<P>) {
    validateHandshakeConfig(config.handshake, "Client");
    if ([config.cmd, config.attach, config.reattach].filter((m) => m !== undefined).length !== 1) {
      throw new PodplugError(
        "CONFIG_INVALID",
        "Client: give exactly one of `cmd` (start the plugin), `attach` (a plugin serving in a socket folder) or `reattach` (a ReattachConfig).",
      );
    }
    // A wrong group fails here, before anything starts, not in the plugin.
    if (config.socketGroup !== undefined) resolveGroup(config.socketGroup);
    if (config.secureConfig) {
      // go-plugin: "only one of Reattach or SecureConfig can be set"; a sidecar's binary is not ours to check either.
      if (!config.cmd)
        throw new PodplugError(
          "CONFIG_INVALID",
          "Client: secureConfig checks the executable this host starts: it needs `cmd` (go-plugin: only one of Reattach or SecureConfig can be set). Pin a sidecar's image by digest instead.",
        );
      validateSecureConfig(config.secureConfig);
    }
    if (config.versionRange !== undefined) {
      // Before anything is claimed or started: a refusal leaves nothing behind.
      const versionName = config.name ?? (config.attach ? basename(config.attach.dir) : "plugin");
      const range = validRange(config.versionRange, versionName);
      if (!config.attach)
        throw new PodplugError(
          "CONFIG_INVALID",
          `Client of plugin ${versionName}: versionRange checks the version a Plugin declares (spec.version), so it needs attach mode; a plugin this host starts is the one its command names.`,
        );
      checkPluginVersion(versionName, range, config.attach.version);
    }
    if (config.reattach !== undefined) {
      this.reattach =
        typeof config.reattach === "string"
          ? parseReattachConfig(config.reattach)
          : validateReattachConfig(config.reattach);
      // go-plugin skips AutoMTLS and refuses multiplexing on reattach: say so rather than connect without them.
      if (config.autoMTLS)
        throw new PodplugError(
          "CONFIG_INVALID",
          "Client: autoMTLS cannot be used with reattach (go-plugin skips AutoMTLS on reattach: the certificates died with the host that started the plugin).",
        );
      if (config.multiplex)
        throw new PodplugError(
          "MULTIPLEX_UNSUPPORTED",
          "Client: PLUGIN_MULTIPLEX_GRPC cannot be used with reattach (go-plugin refuses it too): the plugin's yamux session belongs to the host that started it.",
        );
    }
    if (!config.plugins && !config.versionedPlugins) {
      throw new PodplugError(
        "CONFIG_INVALID",
        "Client: give `plugins` or `versionedPlugins`: the plugins this host can dispense.",
      );
    }
    this.config = config;
    const standby = config.standby ?? config.attach?.standbyDir !== undefined;
    if (standby) {
      if (config.reattach !== undefined || config.restart === false)
        throw new PodplugError(
          "CONFIG_INVALID",
          `Client: standby needs a client that replaces its plugin: not with ${config.reattach !== undefined ? "reattach (one process, never restarted)" : "restart: false"}.`,
        );
      if (config.attach && config.attach.standbyDir === undefined)
        throw new PodplugError(
          "CONFIG_INVALID",
          "Client: standby in attach mode needs attach.standbyDir, the standby sidecar's folder (sidecarAttach() sets it for a Plugin with spec.standby).",
        );
    }
    if (config.cmd) {
      // Each cmd-mode client runs its own instance: its own name. Attach-mode clients of one folder are one plugin.
      const claimed = claimName(
        config.name ?? commandName(config.cmd),
        config.name !== undefined,
        config.metricsRegistry,
      );
      this.name = claimed.name;
      this.releaseName = claimed.release;
    } else if (config.attach) {
      this.name = config.name ?? basename(config.attach.dir);
      this.releaseName = () => {};
    } else {
      this.name = config.name ?? basename(this.reattach!.addr.address);
      this.releaseName = () => {};
    }
    // The default logger writes to stderr: a host's stdout is its own program's output.
    this.log = (config.logger ?? pino(pino.destination(2))).child({ plugin: this.name });
    this.metrics = hostMetrics(config.metricsRegistry);
    // The Plugin's spec.calls (attach mode) are defaults; what the host's code sets wins.
    const fromSpec = config.attach?.calls;
    this.channel = new ReconnectingChannel(
      this.name,
      config.outage ?? { mode: fromSpec?.whenUnavailable ?? "fail-fast" },
      config.callMetrics === false ? undefined : this.metrics,
      config.defaultDeadlineMs ?? fromSpec?.deadlineMs,
    );
    this.broker = new HostBroker(this.name, () => this.conn?.broker);
    // Tracing (off unless OTEL_TRACES_EXPORTER asks, or the application registered an SDK): calls carry trace context.
    this.tracing = podplugTracing("podplug-host", (w) => this.log.warn({ code: "TRACING_CONFIG" }, `tracing: ${w}`));
    const channel = this.tracing ? this.tracing.channel(this.channel, { "podplug.plugin": this.name }) : this.channel;
    const interceptors = config.interceptors;
    this.facade = {
      channel,
      client<C>(ctor: ClientConstructor<C>): C {
        // With interceptors, grpc-js's own call path (the direct unary path would not see them).
        return interceptors
          ? new ctor("unused", grpc.credentials.createInsecure(), { channelOverride: channel, interceptors })
          : directClient(ctor, grpc.credentials.createInsecure(), channel);
      },
    };
    // A plugin that ran well and died once is restarted at once; only a failure in a row waits.
    this.backoff = new Backoff({ firstMs: 0, ...config.backoff });
    this.standby = standby
      ? new Standby(
          {
            launch: (slot) => this.launch(slot, true),
            watch: (inst, stop) => this.failure(inst.conn, inst.proc, stop),
          },
          this.log,
          this.abort.signal,
          config.backoff,
        )
      : undefined;
    if (config.attach?.plugin) {
      this.hostState = new HostStateFile(config.attach.dir, config.attach.plugin, this.log);
      const threshold = config.readiness?.failedCalls ?? 3;
      this.channel.onStatus = (st, on) => {
        // A call that ran on an instance already replaced (a failover) says nothing about the live one.
        if (on === undefined || on === this.conn?.channel) this.callEnded(st.code, st.details, threshold);
      };
    }
    // The series exists from the start: 0 restarts is a fact a dashboard can show.
    this.metrics.restarts.inc({ plugin: this.name }, 0);
    this.setState("starting");
  }

  /** True once kill() was called. */
  private get killed(): boolean {
    return this.abort.signal.aborted;
  }

  /** The client's state: starting, ready, unavailable, crash-loop or stopped. */
  get state(): ClientState {
    return this.currentState;
  }

  /** The process id of the plugin process now running (cmd mode), if any. */
  get pid(): number | undefined {
    const c = this.proc?.child;
    return c && !this.exited ? c.pid : undefined;
  }

  /** How the last plugin process ended (cmd mode), once one has. */
  get lastExit(): ProcessExit | undefined {
    return this.lastExitSeen;
  }

  /**
   * Why the client is stopped for good: the failure `restart: false` did not
   * recover from (undefined while it runs, and after a plain kill()).
   */
  get stopReason(): string | undefined {
    return this.stoppedError?.details.reason as string | undefined;
  }

  /** How many times the plugin was restarted (or re-found) after a failure, failovers to the standby included. */
  get restartCount(): number {
    return this.restarts;
  }

  /** How many times calls moved to the standby instance (`standby`). */
  get failoverCount(): number {
    return this.failovers;
  }

  /** True while a standby instance is connected and set up, ready to take calls (`standby`). */
  get standbyReady(): boolean {
    return this.standby?.ready ?? false;
  }

  /** The standby instance's process id (cmd mode with `standby`), while one is ready. */
  get standbyPid(): number | undefined {
    return this.standby?.pid;
  }

  private setState(s: ClientState): void {
    if (this.tracing) this.traceState(s);
    this.currentState = s;
    setState(this.metrics, this.name, s);
    this.metrics.up.set({ plugin: this.name }, s === "ready" ? 1 : 0);
  }

  /** An outage as one span, from losing the plugin to the host's reconnection, its restarts as events. */
  private traceState(s: ClientState): void {
    const was = this.currentState;
    if (s === "ready" && this.outage) {
      this.outage.addEvent("reconnected", { "podplug.restarts": this.restarts });
      this.outage.end();
      this.outage = undefined;
    } else if ((s === "unavailable" || s === "crash-loop") && was === "ready" && !this.outage) {
      this.outage = this.tracing!.tracer.startSpan("podplug.plugin.outage", {
        attributes: { "podplug.plugin": this.name },
      });
    } else if (s === "crash-loop") this.outage?.addEvent("crash-loop");
    else if (s === "stopped" && this.outage) {
      this.outage.addEvent("stopped");
      this.outage.end();
      this.outage = undefined;
    }
  }

  /** The calls rule of {@link ReadinessOptions}. */
  private callEnded(code: grpc.status, details: string, threshold: number): void {
    const file = this.hostState!;
    if (code === grpc.status.OK) {
      this.failedCalls = 0;
      if (file.current === "failing" && this.conn) file.set("ready");
      return;
    }
    // During an outage the state already says connecting: only a live connection's calls count.
    if (!PLUGIN_FAILURE_CODES.has(code) || !this.conn) return;
    if (++this.failedCalls < threshold) return;
    file.set(
      "failing",
      "CALLS_FAILING",
      clip(
        `the last ${this.failedCalls} calls to plugin ${this.name} failed; the last: ${grpc.status[code]}: ${details}`,
      ),
    );
  }

  /** Records a failed (re)connection in the state file. */
  private connectFailed(err: unknown): void {
    const code = isPodplugError(err) ? err.code : "CONNECT_FAILED";
    this.hostState?.set("failing", code, clip((err as Error).message ?? String(err)));
  }

  private versions(): Record<number, P> {
    const v: Record<number, P> = { ...this.config.versionedPlugins };
    if (this.config.plugins) v[this.config.handshake.protocolVersion] = this.config.plugins;
    return v;
  }

  /**
   * Registers a hook that runs after every connection, before calls are let
   * through: re-serve broker callbacks and redo initialisation there (LOOP's
   * init). A hook that throws counts as a failed start.
   */
  onConnect(hook: (ctx: ConnectContext) => void | Promise<void>): void {
    this.hooks.push(hook);
  }

  /** Starts (or attaches to) the plugin and connects. Safe to call more than once. */
  start(): Promise<PluginInfo> {
    if (this.stoppedError) return Promise.reject(this.stoppedError);
    if (this.killed)
      return Promise.reject(
        new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed; create a new Client.`),
      );
    if (!this.starting) this.hostState?.set("connecting");
    this.starting ??= this.connectOnce().then(
      (info) => {
        this.supervising = this.supervise();
        this.standby?.start(otherSlot(this.activeSlot));
        return info;
      },
      async (err: unknown) => {
        // The file keeps the reason (not "stopped"): it is what the pod's readiness probe shows.
        if (!this.killed) this.connectFailed(err);
        this.setState("stopped");
        await this.cleanup();
        throw err;
      },
    );
    return this.starting;
  }

  /** One attempt: start or find the plugin, handshake, connect, run hooks, let calls through. */
  private async connectOnce(): Promise<PluginInfo> {
    const t0 = performance.now();
    const inst = await this.launch(this.activeSlot, false);
    if (this.killed) {
      await discard(inst);
      throw new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed while starting.`);
    }
    return this.commit(inst, t0);
  }

  /** Lets calls through to `inst`: it is the active instance from now on. */
  private commit(inst: Instance, t0: number, handshaken = true): PluginInfo {
    const conn = inst.conn;
    const handshake = conn.handshake;
    this.proc = inst.proc;
    this.activeSlot = inst.slot;
    this.conn = conn;
    this.failedCalls = 0;
    this.channel.setTarget(conn.channel);
    this.setState("ready");
    this.hostState?.set("ready");
    const secs = (performance.now() - t0) / 1000;
    // A failover handshakes nothing: the spare's start was before.
    if (handshaken) this.metrics.handshake.observe({ plugin: this.name }, secs);
    this.log.debug(
      { version: handshake.appVersion, address: handshake.address, ms: Math.round(secs * 1000) },
      "plugin connected",
    );
    const info: PluginInfo = { handshake, version: handshake.appVersion };
    this.info = this.proc?.child.pid !== undefined ? { ...info, pid: this.proc.child.pid } : info;
    return this.info;
  }

  /**
   * Starts or finds one instance in `slot`, handshakes, connects and runs the
   * onConnect hooks; calls reach it only once committed. `spare`: a standby instance.
   */
  private async launch(slot: Slot, spare: boolean): Promise<Instance> {
    let proc: StartedProcess | undefined;
    const versions = this.versions();
    const expect: HostExpectations = {
      versions: Object.keys(versions).map(Number),
      protocols: ["grpc"],
      networks: ["unix"],
      multiplex: this.config.multiplex === true,
      source: `plugin ${this.name}`,
    };
    const timeoutMs = this.config.startTimeoutMs ?? 60_000;
    let handshake: Handshake;
    let security: TransportSecurity = insecureTransport();
    let brokerDir: string;
    const t0 = performance.now();
    if (this.config.cmd) {
      if (!this.socketDir) {
        // Removed by kill() or, whatever way the host exits, by the exit hook; a SIGKILLed host's, by the next start.
        this.ownedSocketDir = this.config.socketDir === undefined ? makeSocketDir() : undefined;
        this.socketDir = this.config.socketDir ?? this.ownedSocketDir!.path;
        // go-plugin gives its own temp folder the group; a folder the caller chose is left as it is.
        if (this.ownedSocketDir && this.config.socketGroup !== undefined)
          setGroupWritable(this.socketDir, this.config.socketGroup);
      }
      brokerDir = this.socketDir;
      const own = this.config.autoMTLS
        ? await (await import("../protocol/self-signed.ts")).generateCertificate()
        : undefined;
      const env = this.pluginEnv(expect.versions, own);
      const secure = this.config.secureConfig;
      if (secure) {
        // Before every start, restarts included: a binary replaced meanwhile is refused too.
        const cmd = this.config.cmd;
        await checkExecutable(secure, resolveExecutable(cmd.command, env.PATH, cmd.cwd), this.name);
      }
      proc = await startProcess(this.config.cmd, env, {
        timeoutMs,
        name: this.name,
        log: this.log,
        ...(this.config.stderr ? { rawStderr: this.config.stderr } : {}),
      });
      const started = proc;
      // `client.pid` names the process being set up while the hooks run (not a spare's: it is not the client's yet).
      if (!spare) this.proc = started;
      void started.exited.then((exit) => {
        this.lastExitSeen = exit;
        this.log.debug(
          { code: exit.code, signal: exit.signal, ...(spare ? { standby: true } : {}) },
          "plugin process exited",
        );
      });
      try {
        handshake = parseHandshake(started.line, expect);
      } catch (err) {
        void terminate(started.child, 0, "SIGKILL");
        throw withStderr(err, started.stderrTail());
      }
      if (own) {
        if (!handshake.serverCert) {
          throw new PodplugError(
            "HANDSHAKE_CERT",
            `plugin ${this.name} was asked for AutoMTLS but announced no certificate; it cannot serve TLS.`,
          );
        }
        security = mtlsTransport(own, handshakeFieldToCert(handshake.serverCert, `plugin ${this.name}`));
      }
    } else if (this.reattach) {
      this.socketDir ??= this.config.socketDir ?? (this.ownedSocketDir = makeSocketDir()).path;
      brokerDir = this.socketDir;
      const r = await reattachTo(this.reattach, expect.versions, this.config.handshake.protocolVersion, this.name);
      handshake = r.handshake;
      this.reattached = r.process;
    } else {
      if (this.config.multiplex) {
        // go-plugin refuses GRPCBrokerMultiplex with Reattach too: the socket's one yamux session belongs to the host that started it.
        throw new PodplugError(
          "MULTIPLEX_UNSUPPORTED",
          `plugin ${this.name}: PLUGIN_MULTIPLEX_GRPC works only for plugins this host starts (cmd), not with attach; leave \`multiplex\` unset.`,
        );
      }
      const configured = this.config.attach!;
      const attach = slot === 1 ? { ...configured, dir: configured.standbyDir! } : configured;
      brokerDir = attach.dir;
      handshake = await waitForPlugin(attach, expect, timeoutMs, this.abort.signal);
      if (handshake.serverCert) {
        const own =
          this.config.hostCertificate ?? (attach.certDir ? await readCertDir(attach.certDir, this.name) : undefined);
        if (!own) {
          throw new PodplugError(
            "HANDSHAKE_CERT",
            `plugin ${this.name} serves AutoMTLS but this host has no hostCertificate; give the certificate whose PEM the plugin got in PLUGIN_CLIENT_CERT (or attach with sidecarAttach() in an injected pod).`,
          );
        }
        security = mtlsTransport(own, handshakeFieldToCert(handshake.serverCert, `plugin ${this.name}`));
      }
    }
    const explicit = this.config.tls;
    // Attach mode too: go-plugin's Reattach dials with TLSConfig, and so does sdk/go's Attach.
    if (explicit && !handshake.serverCert) {
      security = mtlsTransport({ certPem: explicit.certPem, keyPem: explicit.keyPem }, explicit.caPem);
    }
    this.plugins = versions[handshake.appVersion];
    // Attach mode: the plugin may run as another uid; broker sockets get the folder's group, as its own do.
    const group = this.config.socketGroup;
    const share = this.config.attach
      ? (path: string): void => void shareSocket(path, undefined, statSync(brokerDir).gid)
      : group !== undefined
        ? (path: string): void => applySocketGroup(path, group)
        : undefined;
    const mux = this.config.multiplex
      ? await dialMultiplexed(handshake.address, {
          socketDir: brokerDir,
          logger: fromPino(this.log.child({ component: "yamux" })),
          timeoutMs: Math.max(1000, timeoutMs - (performance.now() - t0)),
        })
      : undefined;
    let conn: Connection;
    try {
      conn = new Connection(
        handshake,
        security,
        brokerDir,
        this.log,
        share,
        this.tracing ? { tracing: this.tracing, attributes: { "podplug.plugin": this.name } } : undefined,
        mux && (await mainBridge(mux)),
      );
    } catch (err) {
      mux?.close();
      throw err;
    }
    try {
      await conn.open(Math.max(1000, timeoutMs - (performance.now() - t0)), this.log, this.config.stdio ?? {});
      for (const hook of this.hooks) {
        try {
          // This process's number: 0 for the first, n for the n-th restart (restarts counts it only once connected).
          const restarts = spare ? this.restarts : this.info ? this.restarts + 1 : 0;
          const pid = proc?.child.pid;
          await hook({
            connection: conn,
            broker: conn.broker,
            restarts,
            standby: spare,
            ...(pid !== undefined ? { pid } : {}),
          });
        } catch (err) {
          throw new PodplugError(
            "CONNECT_HOOK_FAILED",
            `plugin ${this.name}: an onConnect hook failed: ${(err as Error).message ?? String(err)}. No call was let through to this process; ${this.restarts > 0 || this.info ? "it is replaced with back-off" : "the start fails"}.`,
            { restarts: this.restarts },
            { cause: err },
          );
        }
      }
    } catch (err) {
      conn.close();
      if (proc) void terminate(proc.child, 0, "SIGKILL");
      throw proc ? withStderr(err, proc.stderrTail()) : err;
    }
    return { conn, proc, slot };
  }

  /** Resolves with a reason when the live plugin fails: exit, lost connection, NOT_SERVING or a hang. */
  private failure(conn: Connection, proc = this.proc, stop?: AbortSignal): Promise<string> {
    return new Promise((resolve) => {
      let done = false;
      const live = this.config.liveness ?? {};
      const period = live.periodMs ?? 5000;
      const threshold = live.failureThreshold ?? 3;
      let misses = 0;
      const onAbort = (): void => finish("killed");
      const finish = (reason: string): void => {
        if (done) return;
        done = true;
        clearInterval(timer);
        this.abort.signal.removeEventListener("abort", onAbort);
        stop?.removeEventListener("abort", onStop);
        resolve(reason);
      };
      const onStop = (): void => finish("taken");
      void proc?.exited.then((exit) => finish(`process exited (${describeExit(exit)})`));
      const watched = this.reattached;
      if (watched) void processGone(watched, this.abort.signal).then(() => finish(`process ${watched.pid} exited`));
      // A dying process drops its connection a moment before its exit is reported: name the exit, the real cause.
      const lost = (why: string): void => {
        // With a spare ready, calls move at once; naming the exit is not worth their wait.
        if (!proc || this.standby?.ready) return finish(why);
        const t = setTimeout(() => finish(why), EXIT_AFTER_DROP_MS);
        void proc.exited.then(() => clearTimeout(t));
      };
      conn.watchHealth(
        (serving) => {
          if (!serving) finish("plugin reported NOT_SERVING");
        },
        (err) => lost(err ? `health stream failed: ${err.message}` : "health stream ended"),
      );
      const timer = setInterval(() => {
        conn.check(live.timeoutMs ?? 2000).then(
          () => (misses = 0),
          () => {
            if (++misses >= threshold) finish(`liveness check failed ${misses} times`);
          },
        );
      }, period);
      timer.unref();
      this.abort.signal.addEventListener("abort", onAbort, { once: true });
      stop?.addEventListener("abort", onStop, { once: true });
    });
  }

  /** Restarts the plugin after each failure, with back-off, until killed; with `restart: false`, reports it stopped. */
  private async supervise(): Promise<void> {
    // The host starts plugins only in cmd mode; in attach mode someone else does, and the host re-attaches.
    const attach = this.config.cmd === undefined;
    for (;;) {
      const conn = this.conn;
      if (!conn || this.killed) return;
      const upSince = performance.now();
      const reason = await this.failure(conn);
      if (this.killed) return;
      if (this.failover(reason)) continue;
      if (this.config.restart === false || this.reattach) {
        // go-plugin's behaviour: the client is dead with its plugin, and says so.
        const message = this.reattach
          ? `plugin ${this.name} has stopped (${reason}); a reattach config names one process, so the client stays down. Reattach with the new plugin's config.`
          : attach
            ? `plugin ${this.name} has stopped (${reason}) and will not be re-attached: the client was created with restart: false. Create a new Client to attach again.`
            : `plugin ${this.name} has stopped (${reason}) and will not restart: the client was created with restart: false. Create a new Client to start it again.`;
        this.stoppedError = new PodplugError("PLUGIN_STOPPED", message, {
          reason,
          ...(this.lastExitSeen ? { exit: this.lastExitSeen } : {}),
        });
        this.channel.stop(`podplug: ${message}`);
        this.log.warn(
          { reason },
          attach
            ? "plugin failed; re-attach is off, the client stays down"
            : "plugin failed; restart is off, the client stays down",
        );
        await this.dropConnection();
        this.setState("stopped");
        this.hostState?.set("stopped", "PLUGIN_STOPPED", clip(message));
        return;
      }
      this.hostState?.set("connecting", undefined, clip(`plugin ${this.name} failed (${reason}); re-attaching`));
      this.log.warn(
        { reason },
        attach ? "plugin failed; re-attaching when it serves again" : "plugin failed; restarting it",
      );
      let uptime = performance.now() - upSince;
      for (;;) {
        await this.dropConnection();
        const step = this.backoff.next(uptime);
        uptime = 0;
        if (step.crashLoop) {
          this.setState("crash-loop");
          this.log.error({ failures: step.failures, delayMs: step.delayMs }, "plugin is crash-looping; backing off");
        } else {
          this.setState("unavailable");
        }
        await sleep(step.delayMs, this.abort.signal);
        if (this.killed) return;
        // Both instances were down: a spare that came back meanwhile is taken at once.
        if (this.failover(reason)) break;
        try {
          await this.connectOnce();
          this.restarts++;
          this.metrics.restarts.inc({ plugin: this.name });
          if (attach) this.log.info({ reattaches: this.restarts }, "re-attached to the plugin");
          else this.log.info({ restarts: this.restarts }, "plugin restarted and reconnected");
          break;
        } catch (err) {
          if (this.killed) return;
          this.connectFailed(err);
          const code = isPodplugError(err) ? err.code : undefined;
          this.log.warn(
            { err: (err as Error).message, ...(code ? { code } : {}) },
            attach ? "re-attach failed" : "plugin restart failed",
          );
          this.outage?.addEvent(attach ? "re-attach failed" : "restart failed", {
            "exception.message": (err as Error).message,
            ...(code ? { "podplug.code": code } : {}),
          });
        }
      }
    }
  }

  /**
   * With a standby ready: re-points calls at it at once (the host state stays
   * ready: calls work), drops the failed instance, and lets the standby start
   * a new spare in the freed slot. False when no spare is ready.
   */
  private failover(reason: string): boolean {
    const t0 = performance.now();
    const spare = this.standby?.take(this.activeSlot);
    if (!spare) return false;
    const failed: Instance | undefined = this.conn
      ? { conn: this.conn, proc: this.proc, slot: this.activeSlot }
      : undefined;
    this.commit(spare, t0, false);
    this.failovers++;
    this.restarts++;
    this.metrics.restarts.inc({ plugin: this.name });
    this.log.warn(
      { reason, pid: spare.proc?.child.pid, failovers: this.failovers },
      "plugin failed; calls moved to the standby instance",
    );
    if (failed) void discard(failed);
    return true;
  }

  /** Cuts calls off the failed connection and makes sure its process is gone. */
  private async dropConnection(): Promise<void> {
    this.channel.setTarget(undefined);
    this.conn?.close();
    this.conn = undefined;
    this.setState("unavailable");
    if (this.proc) await terminate(this.proc.child, 0, "SIGKILL");
  }

  /** The environment go-plugin gives a plugin it starts. */
  private pluginEnv(versions: readonly number[], own: CertificatePair | undefined): NodeJS.ProcessEnv {
    const cmd = this.config.cmd!;
    const env: NodeJS.ProcessEnv = { ...(cmd.skipHostEnv ? {} : process.env), ...cmd.env };
    env[this.config.handshake.magicCookieKey] = this.config.handshake.magicCookieValue;
    env[PLUGIN_ENV.protocolVersions] = versions.join(",");
    env[PLUGIN_ENV.minPort] = "10000";
    env[PLUGIN_ENV.maxPort] = "25000";
    env[PLUGIN_ENV.unixSocketDir] = this.socketDir;
    if (this.config.socketGroup !== undefined) env[PLUGIN_ENV.unixSocketGroup] = this.config.socketGroup;
    if (own) env[PLUGIN_ENV.clientCert] = own.certPem;
    else delete env[PLUGIN_ENV.clientCert];
    // The host's own sidecar settings must not leak into a child plugin.
    delete env[SIDECAR_ENV.handshakeFile];
    if (this.config.multiplex) env[PLUGIN_ENV.multiplexGRPC] = "true";
    else delete env[PLUGIN_ENV.multiplexGRPC];
    const cache = this.config.compileCache;
    if (cache === undefined && this.compileCacheDir === undefined)
      this.compileCacheDir = defaultCompileCacheDir() ?? false;
    const dir = cache ?? this.compileCacheDir;
    if (dir) useCompileCache(env, dir);
    return env;
  }

  /** The live connection (starting the plugin if needed); UNAVAILABLE during a restart. */
  async connection(): Promise<Connection> {
    await this.start();
    if (this.stoppedError) throw this.stoppedError;
    if (this.killed) throw new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed.`);
    if (!this.conn)
      throw new PodplugError(
        "UNAVAILABLE",
        `plugin ${this.name} is unavailable (${this.config.cmd ? "restarting" : "re-attaching"}).`,
      );
    return this.conn;
  }

  /**
   * Returns the typed client of plugin `name` (go-plugin's Dispense). It stays
   * valid across plugin restarts.
   */
  async dispense<K extends keyof P & string>(name: K): Promise<ClientOf<P[K]>> {
    const info = await this.start();
    if (this.stoppedError) throw this.stoppedError;
    const cached = this.dispensed.get(name);
    if (cached !== undefined) return cached as ClientOf<P[K]>;
    const entry = this.plugins?.[name];
    if (!entry) {
      const known = Object.keys(this.plugins ?? {}).join(", ");
      throw new PodplugError(
        "PLUGIN_UNKNOWN",
        `unknown plugin type: ${name} (this host knows: ${known || "none"} at version ${info.version}).`,
        { name },
      );
    }
    if (!entry.grpcClient)
      throw new PodplugError(
        "CONFIG_INVALID",
        `plugin ${JSON.stringify(name)} has no grpcClient(); the host cannot build its client.`,
      );
    const c = entry.grpcClient(this.broker, this.facade) as ClientOf<P[K]>;
    this.dispensed.set(name, c);
    return c;
  }

  /**
   * Reloads the plugin (Smilo's `admin_reloadPlugin`): asks it to shut down
   * (go-plugin's controller Shutdown) and resolves once the client is
   * connected to its next process — one this host starts (cmd mode), or the
   * one the kubelet or `podplug run` restarts (attach mode). The plugin's
   * in-memory state goes with the old process; `onConnect` hooks run on the
   * new one before calls reach it. RELOAD_TIMEOUT if no new process is
   * connected within `timeoutMs`; CONFIG_INVALID for a client that neither
   * restarts nor re-attaches.
   */
  async reload(timeoutMs = 30_000): Promise<void> {
    if (this.config.restart === false || this.reattach)
      throw new PodplugError(
        "CONFIG_INVALID",
        `plugin ${this.name}: reload() needs a client that restarts or re-attaches its plugin (not restart: false, not reattach).`,
      );
    const before = await this.connection();
    const restarts = this.restarts;
    this.log.info("reloading the plugin");
    await before.shutdown(this.config.killTimeoutMs ?? 2000);
    const deadline = performance.now() + timeoutMs;
    while (!(this.restarts > restarts && this.conn !== undefined && this.conn !== before && this.state === "ready")) {
      if (this.killed)
        throw new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed while reloading.`);
      if (this.stoppedError) throw this.stoppedError;
      if (performance.now() >= deadline)
        throw new PodplugError(
          "RELOAD_TIMEOUT",
          `plugin ${this.name} was asked to shut down but no new process was connected within ${timeoutMs} ms (state ${this.state}). ${this.config.cmd ? "Check the plugin's logs for why it does not start." : "Is its container restarted (restartPolicy Always)?"}`,
          { state: this.state },
        );
      // Not unref'd: a caller awaiting the reload (a CLI, say) must not exit while the plugin is down.
      await new Promise((r) => setTimeout(r, 20));
    }
    this.log.info({ restarts: this.restarts }, "plugin reloaded");
  }

  /** go-plugin's Ping: a health check of service "plugin". */
  async ping(timeoutMs = 5000): Promise<void> {
    const conn = await this.connection();
    await conn.check(timeoutMs);
  }

  /** True once the current plugin process has exited (cmd mode). */
  get exited(): boolean {
    const c = this.proc?.child;
    return c !== undefined && (c.exitCode !== null || c.signalCode !== null);
  }

  /**
   * go-plugin's Kill: ask the plugin to shut down, wait up to `killTimeoutMs`,
   * then SIGKILL; remove the socket folder. In attach mode the plugin is not
   * ours to stop: only the connection is closed.
   */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    await this.supervising;
    await this.standby?.close(this.config.killTimeoutMs ?? 2000);
    this.channel.close();
    const conn = this.conn;
    const proc = this.proc;
    const wait = this.config.killTimeoutMs ?? 2000;
    if (conn && proc && !this.exited) await conn.shutdown(wait);
    const watched = this.reattached;
    // go-plugin: a Test reattach has no runner, so Kill() leaves the plugin to whoever started it.
    if (conn && watched && !this.reattach?.test) await this.killReattached(conn, watched, wait);
    conn?.close();
    // Shutdown was the request to stop: wait, then SIGKILL (go-plugin's Kill).
    if (proc && (await terminate(proc.child, wait, null)) === "killed")
      this.log.warn("plugin failed to exit gracefully; killing it");
    await this.cleanup();
    this.setState("stopped");
    // Spans of this client's last calls reach the backend before the host goes on to exit.
    await this.tracing?.flush();
    this.hostState?.set("stopped");
  }

  /** go-plugin's Kill() of a reattached plugin: Shutdown, wait, then SIGKILL — never a pid that is no longer the plugin. */
  private async killReattached(conn: Connection, p: ReattachedProcess, waitMs: number): Promise<void> {
    await conn.shutdown(waitMs);
    if (await waitGone(p, waitMs)) return;
    const r = killReattached(p);
    if (r === "killed") this.log.warn({ pid: p.pid }, "plugin failed to exit gracefully; killing it");
    else if (r === "refused")
      this.log.warn(
        { pid: p.pid },
        "reattached plugin did not exit after Shutdown and its pid cannot be proven to be the plugin any more; not signalling it",
      );
  }

  /**
   * go-plugin's ReattachConfig() for the plugin this client started (cmd
   * mode, connected): give it to another host process, which attaches with
   * `reattach`. Its `StartTime` lets that host tell the plugin from a process
   * that reused the pid. The plugin still lives and dies with this host.
   */
  reattachConfig(): ReattachConfig {
    const pid = this.pid;
    if (!this.config.cmd || !this.conn || !this.info || pid === undefined)
      throw new PodplugError(
        "CONFIG_INVALID",
        `plugin ${this.name}: a reattach config exists only for a running plugin this client started (cmd mode, after start()).`,
      );
    if (this.config.autoMTLS || this.config.multiplex)
      throw new PodplugError(
        "CONFIG_INVALID",
        `plugin ${this.name}: no reattach config with ${this.config.autoMTLS ? "autoMTLS" : "multiplex"}: go-plugin's reattach has neither, so another host could not connect.`,
      );
    const startTime = processStartTime(pid);
    return {
      protocol: "grpc",
      protocolVersion: this.info.version,
      addr: { network: "unix", address: this.info.handshake.address },
      pid,
      test: false,
      ...(startTime !== undefined ? { startTime } : {}),
    };
  }

  private async cleanup(): Promise<void> {
    this.releaseName();
    this.channel.setTarget(undefined);
    this.conn?.close();
    this.conn = undefined;
    if (this.proc) await terminate(this.proc.child, 0, "SIGKILL");
    this.ownedSocketDir?.remove();
  }
}

/** The splice socket the main gRPC channel dials: each of its connections is a new yamux stream. */
async function mainBridge(mux: Multiplexer): Promise<MainBridge> {
  const bridge = await mux.bridge(async () => mux.open());
  return { mux, path: bridge.path };
}

/** How long a lost connection waits for the process's exit to be reported, to name it as the cause. */
const EXIT_AFTER_DROP_MS = 500;

function clip(s: string): string {
  return s.length <= REASON_MAX ? s : `${s.slice(0, REASON_MAX - 1)}…`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(r, ms);
    t.unref();
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      r();
    });
  });
}

const INTERPRETERS = new Set(["node", "sh", "bash", "dash", "python", "python3", "env"]);

/**
 * A plugin's default name, as go-plugin's (the command's base name), except
 * that an interpreter names its script: `node kv.ts` is "kv.ts", `sh -c 'exec ./kv'` is "kv".
 */
export function commandName(cmd: PluginCommand): string {
  const base = basename(cmd.command);
  if (!INTERPRETERS.has(base)) return base;
  const args = cmd.args ?? [];
  const c = args.indexOf("-c");
  if (c >= 0 && args[c + 1]) {
    const words = args[c + 1]!.trim()
      .split(/\s+/)
      .filter((w) => w !== "exec" && !w.includes("="));
    return words[0] ? basename(words[0]) : base;
  }
  const script = args.find((a) => !a.startsWith("-"));
  return script ? basename(script) : base;
}

/** Adds the plugin's stderr tail to a handshake error, so the user sees why. */
function withStderr(err: unknown, tail: string): unknown {
  if (err instanceof PodplugError && tail && !err.message.includes(tail)) {
    return new PodplugError(
      err.code,
      `${err.message}\nplugin stderr:\n${tail}`,
      { ...err.details, stderr: tail },
      { cause: err.cause },
    );
  }
  return err;
}
