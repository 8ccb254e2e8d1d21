/**
 * A gRPC channel that outlives the plugin process behind it. Generated
 * clients are built on it once; on a restart the host re-points it at the new
 * process's connection. While no process is there, a call either fails at
 * once with UNAVAILABLE or waits for the new process up to its deadline: the
 * client's policy decides, or the call itself through metadata. Every call's
 * outcome and latency is recorded in the host metrics on the way.
 */
import * as grpc from "@grpc/grpc-js";
import type { CallSeries } from "./call-metrics.ts";
import type { HostMetrics } from "./metrics.ts";

/** What a call does while the plugin is unavailable. */
export type OutageMode = "fail-fast" | "wait";

/** Per-client outage policy. */
export interface OutagePolicy {
  mode: OutageMode;
  /** Longest wait for a call without a deadline in "wait" mode (default 30 s). */
  maxWaitMs?: number;
}

/** Metadata key a caller sets to choose the outage mode for one call; stripped before sending. */
export const OUTAGE_METADATA_KEY = "x-podplug-outage";

type ParentCall = Parameters<grpc.ChannelInterface["createCall"]>[3];
// grpc-js's public names for its call contract (no deep import of build/src).
type Call = grpc.experimental.CallStream;
type InterceptingListener = grpc.InterceptingListener;
type StatusObject = grpc.StatusObject;
type MessageContext = Parameters<Call["sendMessageWithContext"]>[0];

/** A {@link grpc.ChannelInterface} whose target can be swapped. */
export class ReconnectingChannel implements grpc.ChannelInterface {
  readonly plugin: string;
  readonly policy: Required<OutagePolicy>;
  private current: grpc.ChannelInterface | undefined;
  private readonly waiting = new Set<() => void>();
  private closed = false;
  private stoppedWhy: string | undefined;
  private readonly metrics: HostMetrics | undefined;
  /**
   * Told every call's final status and the target it ran on (undefined: it never reached one): the
   * client's readiness counts failures from it, only those of its live target's calls.
   */
  onStatus: ((s: StatusObject, on: grpc.ChannelInterface | undefined) => void) | undefined;

  /** Deadline given to calls made without one (ms), if any: the Plugin's spec.calls or the client's config. */
  readonly defaultDeadlineMs: number | undefined;

  constructor(plugin: string, policy: OutagePolicy, metrics?: HostMetrics, defaultDeadlineMs?: number) {
    this.plugin = plugin;
    this.policy = { maxWaitMs: 30_000, ...policy };
    this.metrics = metrics;
    this.defaultDeadlineMs = defaultDeadlineMs;
  }

  private readonly perMethod = new Map<string, CallSeries>();

  /** The metric series of one method, bound once: no label lookups per call. */
  methodSeries(method: string): CallSeries | undefined {
    if (!this.metrics) return undefined;
    let m = this.perMethod.get(method);
    if (!m) {
      m = this.metrics.calls.series(this.plugin, method);
      this.perMethod.set(method, m);
    }
    return m;
  }

  /** Points the channel at a live connection, or at nothing during an outage. */
  setTarget(ch: grpc.ChannelInterface | undefined): void {
    this.current = ch;
    if (ch) for (const w of [...this.waiting]) w();
  }

  /** The live target, if any. */
  target(): grpc.ChannelInterface | undefined {
    return this.current;
  }

  /** Registers `fn` to run when a target appears; returns a function that unregisters it. */
  onTarget(fn: () => void): () => void {
    this.waiting.add(fn);
    return () => void this.waiting.delete(fn);
  }

  close(): void {
    this.closed = true;
    this.current = undefined;
    for (const w of [...this.waiting]) w();
  }

  isClosed(): boolean {
    return this.closed;
  }

  /**
   * The plugin stopped for good (`restart: false`): every call from now on,
   * and every call waiting, fails with FAILED_PRECONDITION and `message`.
   */
  stop(message: string): void {
    this.stoppedWhy = message;
    this.current = undefined;
    for (const w of [...this.waiting]) w();
  }

  /** Why the plugin stopped for good, once it has. */
  stopped(): string | undefined {
    return this.stoppedWhy;
  }

  getTarget(): string {
    return this.current?.getTarget() ?? `podplug:${this.plugin}`;
  }

  getConnectivityState(tryToConnect: boolean): grpc.connectivityState {
    if (this.closed) return grpc.connectivityState.SHUTDOWN;
    return this.current?.getConnectivityState(tryToConnect) ?? grpc.connectivityState.TRANSIENT_FAILURE;
  }

  watchConnectivityState(
    currentState: grpc.connectivityState,
    deadline: grpc.Deadline,
    callback: (error?: Error) => void,
  ): void {
    if (this.current) return this.current.watchConnectivityState(currentState, deadline, callback);
    const ms = deadlineMs(deadline) - Date.now();
    let off = (): void => {};
    const t = setTimeout(
      () => {
        off();
        callback(new Error("Deadline passed without connectivity state change"));
      },
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
    off = this.onTarget(() => {
      clearTimeout(t);
      off();
      callback();
    });
  }

  getChannelzRef(): ReturnType<grpc.ChannelInterface["getChannelzRef"]> {
    if (this.current) return this.current.getChannelzRef();
    // Only channelz reads this; without a process there is nothing to inspect.
    return { kind: "channel", id: 0, name: this.getTarget() } as unknown as ReturnType<
      grpc.ChannelInterface["getChannelzRef"]
    >;
  }

  createCall(
    method: string,
    deadline: grpc.Deadline,
    host: string | null | undefined,
    parentCall: ParentCall,
    propagateFlags: number | null | undefined,
  ): Call {
    const d = this.defaultDeadlineMs;
    if (d !== undefined && !Number.isFinite(deadlineMs(deadline))) deadline = Date.now() + d;
    return new PluginCall(this, this.methodSeries(method), { method, deadline, host, parentCall, propagateFlags });
  }
}

interface CallArgs {
  method: string;
  deadline: grpc.Deadline;
  host: string | null | undefined;
  parentCall: ParentCall;
  propagateFlags: number | null | undefined;
}

function deadlineMs(d: grpc.Deadline): number {
  return d instanceof Date ? d.getTime() : d;
}

/** Something a call was asked to do before its real call existed (the plugin was restarting). */
type HeldOp = (c: Call) => void;

/**
 * One call: passed straight through when a process is there, held (or failed)
 * when not. It listens to its real call itself (no wrapper listener per call)
 * and records the call's code and duration when the status passes.
 */
class PluginCall implements Call, InterceptingListener {
  private real: Call | undefined;
  /** The target the real call runs on. */
  private on: grpc.ChannelInterface | undefined;
  private pending: HeldOp[] | undefined;
  private listener: InterceptingListener | undefined;
  private finished = false;
  private cleanup: (() => void) | undefined;
  private readonly channel: ReconnectingChannel;
  private readonly series: CallSeries | undefined;
  private readonly args: CallArgs;
  private readonly started: number;

  constructor(channel: ReconnectingChannel, series: CallSeries | undefined, args: CallArgs) {
    this.channel = channel;
    this.series = series;
    this.args = args;
    this.started = series ? performance.now() : 0;
  }

  start(metadata: grpc.Metadata, listener: InterceptingListener): void {
    this.listener = listener;
    const asked = metadata.get(OUTAGE_METADATA_KEY)[0];
    if (asked !== undefined) metadata.remove(OUTAGE_METADATA_KEY);
    const target = this.channel.target();
    if (target) return this.open(target, metadata);
    const mode: OutageMode = asked === "wait" || asked === "fail-fast" ? asked : this.channel.policy.mode;
    if (this.channel.isClosed())
      return this.fail(grpc.status.UNAVAILABLE, `podplug: the client of plugin ${this.channel.plugin} was killed`);
    const stopped = this.channel.stopped();
    // Not UNAVAILABLE: retrying cannot help, nothing will bring this plugin back.
    if (stopped) return this.fail(grpc.status.FAILED_PRECONDITION, stopped);
    if (mode === "fail-fast") {
      return this.fail(
        grpc.status.UNAVAILABLE,
        `podplug: plugin ${this.channel.plugin} is unavailable (restarting); retry later, or call with outage mode "wait" and a deadline`,
      );
    }
    const dl = deadlineMs(this.args.deadline);
    const limit = Math.min(Number.isFinite(dl) ? dl - Date.now() : Infinity, this.channel.policy.maxWaitMs);
    const expired = Number.isFinite(dl) && dl - Date.now() <= limit;
    const timer = setTimeout(
      () => {
        off();
        this.fail(
          expired ? grpc.status.DEADLINE_EXCEEDED : grpc.status.UNAVAILABLE,
          `podplug: plugin ${this.channel.plugin} did not come back within ${Math.round(limit)} ms`,
        );
      },
      Math.max(0, limit),
    );
    const off = this.channel.onTarget(() => {
      clearTimeout(timer);
      off();
      const t = this.channel.target();
      const stopped = this.channel.stopped();
      if (t && !this.finished) this.open(t, metadata);
      else if (stopped) this.fail(grpc.status.FAILED_PRECONDITION, stopped);
      else this.fail(grpc.status.UNAVAILABLE, `podplug: the client of plugin ${this.channel.plugin} was killed`);
    });
    this.cleanup = () => {
      clearTimeout(timer);
      off();
    };
  }

  private open(target: grpc.ChannelInterface, metadata: grpc.Metadata): void {
    const a = this.args;
    const real = target.createCall(a.method, a.deadline, a.host, a.parentCall, a.propagateFlags);
    this.real = real;
    this.on = target;
    real.start(metadata, this);
    const held = this.pending;
    this.pending = undefined;
    if (held) for (const op of held) op(real);
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.listener!.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.listener!.onReceiveMessage(message);
  }

  onReceiveStatus(status: StatusObject): void {
    this.series?.record(status.code, (performance.now() - this.started) / 1000);
    this.channel.onStatus?.(status, this.on);
    this.listener?.onReceiveStatus(status);
  }

  private fail(code: grpc.status, details: string): void {
    if (this.finished || this.real) return;
    this.finished = true;
    this.cleanup?.();
    const status: StatusObject = { code, details, metadata: new grpc.Metadata() };
    process.nextTick(() => this.onReceiveStatus(status));
  }

  private hold(op: HeldOp): void {
    if (!this.finished) (this.pending ??= []).push(op);
  }

  cancelWithStatus(status: grpc.status, details: string): void {
    if (this.real) this.real.cancelWithStatus(status, details);
    else this.fail(status, details);
  }
  getPeer(): string {
    return this.real?.getPeer() ?? `podplug:${this.channel.plugin}`;
  }
  sendMessageWithContext(context: MessageContext, message: Buffer): void {
    if (this.real) this.real.sendMessageWithContext(context, message);
    else this.hold((c) => c.sendMessageWithContext(context, message));
  }
  startRead(): void {
    if (this.real) this.real.startRead();
    else this.hold((c) => c.startRead());
  }
  halfClose(): void {
    if (this.real) this.real.halfClose();
    else this.hold((c) => c.halfClose());
  }
  getCallNumber(): number {
    return this.real?.getCallNumber() ?? 0;
  }
  setCredentials(credentials: grpc.CallCredentials): void {
    if (this.real) this.real.setCredentials(credentials);
    else this.hold((c) => c.setCredentials(credentials));
  }
  getAuthContext(): ReturnType<Call["getAuthContext"]> {
    return this.real?.getAuthContext() ?? null;
  }
}
