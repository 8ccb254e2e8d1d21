/**
 * PodplugChannel: a grpc-js `ChannelInterface` over one HTTP/2 connection on a
 * Unix socket (h2c, or TLS with ALPN h2). Generated clients take it through
 * `{ channelOverride }` and work unchanged; each call is one HTTP/2 stream
 * with no resolver, load balancer, retry or filter machinery in between,
 * which is where grpc-js's client spends most of its per-call CPU. The
 * connection is podplug's HTTP/2 engine (h2/) or node:http2 (`engine`).
 *
 * Connection model: one session at a time, opened by the first call (or by
 * getConnectivityState(true)); when it dies or gets GOAWAY, the next call
 * opens a new one. Calls on a session still connecting are sent behind the
 * connection preface at once; calls whose connection fails end UNAVAILABLE.
 */
import { type ChannelInterface, connectivityState, type Deadline } from "@grpc/grpc-js";
import { type CallHost, PodplugClientCall } from "./client-call.ts";
import { type DialTarget, defaultEngine, type Engine } from "./engines/dial.ts";
import { dialNodeHttp2 } from "./engines/node-http2-client.ts";
import { dialPodplugH2 } from "./engines/podplug-h2-client.ts";
import { TransportError, unixPath } from "./errors.ts";
import type { H2Limits } from "./h2/limits.ts";
import type { KeepaliveOptions } from "./keepalive.ts";
import type { RequestSpec, SessionEvents, WireSession, WireSink, WireStream } from "./wire.ts";

type ChannelzRef = ReturnType<ChannelInterface["getChannelzRef"]>;

/** PEMs for mutual TLS: the peer's certificate (our CA), our key and certificate. */
export interface ChannelTlsOptions {
  ca: string | Buffer;
  key: string | Buffer;
  cert: string | Buffer;
  /** Name to verify in the server's certificate; go-plugin's certificates say `localhost`. */
  servername?: string;
}

/** Options of a {@link PodplugChannel}. */
export interface PodplugChannelOptions {
  /** Mutual TLS; absent for plaintext HTTP/2 (h2c). */
  tls?: ChannelTlsOptions;
  /** Largest message accepted from the server, -1 for no limit (grpc-js default: 4 MiB). */
  maxReceiveMessageLength?: number;
  /** Largest message this side sends, -1 for no limit (the default). */
  maxSendMessageLength?: number;
  /** Gives up on a connection attempt (socket plus TLS handshake) after this long. Default 20 s. */
  connectTimeoutMs?: number;
  /** First wait before a failed connection may be retried by waitForReady; doubles up to `maxBackoffMs`. Default 100 ms. */
  initialBackoffMs?: number;
  /** Default 1000 ms. */
  maxBackoffMs?: number;
  /**
   * The HTTP/2 implementation: podplug's own HTTP/2 engine (default; a fraction
   * of node:http2's CPU per call), or node:http2 itself. Without this option,
   * PODPLUG_HTTP2_ENGINE=node-http2 in the environment picks node:http2.
   */
  engine?: Engine;
  /**
   * Finds a plugin that stopped answering while calls wait (keepalive.ts):
   * on by default, so such calls fail UNAVAILABLE (designed for ≈0.85 s; measured slower, docs/transport.md); `false` turns
   * it off. podplug's HTTP/2 engine only (node:http2 has none here).
   */
  keepalive?: KeepaliveOptions | false;
  /** podplug's engine: what the server may send on the connection (defaults: DEFAULT_H2_LIMITS, docs/transport.md). */
  h2Limits?: Partial<H2Limits>;
  /** Called when the server broke HTTP/2 or one of the limits and the connection is closed for it (for logs). */
  onPeerError?: (err: TransportError) => void;
}

interface Watcher {
  from: connectivityState;
  callback: (error?: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

let nextChannelId = 0;

/** A grpc-js channel to one Unix socket, one HTTP/2 connection at a time (see the module comment). */
export class PodplugChannel implements ChannelInterface, CallHost {
  readonly peer: string;
  readonly maxReceiveMessageLength: number;
  readonly maxSendMessageLength: number;
  private readonly path: string;
  private readonly target: string;
  private readonly opts: PodplugChannelOptions;
  private readonly channelzRef: ChannelzRef;
  private session: WireSession | undefined;
  private readonly dial: (target: DialTarget, events: SessionEvents) => WireSession;
  private state: connectivityState = connectivityState.IDLE;
  private watchers: Watcher[] = [];
  private active = 0;
  private backoffMs: number;
  private backoffTimer: NodeJS.Timeout | undefined;

  /** `target` is `unix:///path`, `unix:/path` or a bare socket path. */
  constructor(target: string, options: PodplugChannelOptions = {}) {
    this.path = unixPath(target);
    this.target = `unix://${this.path}`;
    this.peer = `unix:${this.path}`;
    this.opts = options;
    this.maxReceiveMessageLength = options.maxReceiveMessageLength ?? 4 * 1024 * 1024;
    this.maxSendMessageLength = options.maxSendMessageLength ?? -1;
    this.backoffMs = options.initialBackoffMs ?? 100;
    // channelz is not served here; the ref only has to be well-formed.
    this.channelzRef = { kind: "channel", id: ++nextChannelId, name: this.target } as unknown as ChannelzRef;
    this.dial = (options.engine ?? defaultEngine()) === "node-http2" ? dialNodeHttp2 : dialPodplugH2;
    if (options.tls && (!options.tls.ca || !options.tls.key || !options.tls.cert)) {
      throw new TransportError("TRANSPORT_CREDENTIALS_INVALID", "PodplugChannel TLS needs ca, key and cert PEMs.");
    }
  }

  close(): void {
    if (this.closed) return;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    const s = this.session;
    this.session = undefined;
    // SHUTDOWN first: it is what `closed` means, for anything the session's close reports.
    this.setState(connectivityState.SHUTDOWN);
    // Graceful: calls in flight finish; their owners cancel them if they want them gone.
    s?.close();
  }

  /** Closed for good: SHUTDOWN is entered only by close() and never left. */
  private get closed(): boolean {
    return this.state === connectivityState.SHUTDOWN;
  }

  getTarget(): string {
    return this.target;
  }

  getConnectivityState(tryToConnect: boolean): connectivityState {
    if (tryToConnect && this.state === connectivityState.IDLE && !this.closed) this.ensureSession();
    return this.state;
  }

  watchConnectivityState(
    currentState: connectivityState,
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void {
    if (this.state !== currentState) {
      process.nextTick(callback);
      return;
    }
    const w: Watcher = { from: currentState, callback, timer: undefined };
    const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
    if (ms !== Infinity) {
      w.timer = setTimeout(
        () => {
          this.watchers = this.watchers.filter((x) => x !== w);
          callback(new Error("Deadline passed without connectivity state change"));
        },
        Math.max(0, ms),
      );
    }
    this.watchers.push(w);
  }

  getChannelzRef(): ChannelzRef {
    return this.channelzRef;
  }

  createCall(method: string, deadline: Deadline): PodplugClientCall {
    const d = deadline instanceof Date ? deadline.getTime() : deadline;
    return new PodplugClientCall(this, method, d);
  }

  /** @internal Opens one call's stream; called by {@link PodplugClientCall}. */
  openStream(spec: RequestSpec, sink: WireSink): WireStream {
    if (this.closed) throw new Error("Channel has been shut down");
    let s = this.ensureSession();
    let stream: WireStream;
    try {
      stream = s.open(spec, sink);
    } catch {
      // The session went away between calls (GOAWAY not yet seen): one retry on a new one.
      if (this.session === s) this.dropSession(false);
      s = this.ensureSession();
      stream = s.open(spec, sink);
    }
    if (this.active++ === 0) s.ref();
    return stream;
  }

  /** @internal True while connected. */
  get ready(): boolean {
    return this.state === connectivityState.READY;
  }

  /** @internal Waits for READY, connecting (and retrying after backoff) as needed. */
  whenReady(cb: (err?: Error) => void, wanted: () => boolean): void {
    if (!wanted()) return; // the call ended (deadline, cancel): stop reconnecting for it
    const state = this.getConnectivityState(true);
    if (state === connectivityState.READY) cb();
    else if (state === connectivityState.SHUTDOWN) cb(new Error("Channel has been shut down"));
    else this.watchConnectivityState(state, Infinity, () => this.whenReady(cb, wanted));
  }

  /** @internal */
  callEnded(): void {
    if (--this.active === 0) this.session?.unref();
  }

  private ensureSession(): WireSession {
    const cur = this.session;
    if (cur?.usable) return cur;
    if (this.backoffTimer) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    let session: WireSession | undefined;
    const events: SessionEvents = {
      onReady: () => {
        this.backoffMs = this.opts.initialBackoffMs ?? 100;
        if (this.session === session) this.setState(connectivityState.READY);
      },
      onGone: (wasReady) => {
        if (this.session === session) this.dropSession(wasReady);
      },
    };
    session = this.dial(
      {
        path: this.path,
        tls: this.opts.tls,
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 20_000,
        keepalive: this.opts.keepalive,
        limits: this.opts.h2Limits,
        onPeerError: this.opts.onPeerError,
      },
      events,
    );
    this.session = session;
    if (this.active === 0) session.unref();
    this.setState(connectivityState.CONNECTING);
    return session;
  }

  private dropSession(wasConnected: boolean): void {
    const session = this.session;
    this.session = undefined;
    session?.close();
    if (this.closed) return;
    if (wasConnected) {
      this.setState(connectivityState.IDLE);
      return;
    }
    // A failed attempt: report it, and become connectable again after a backoff (waitForReady polls).
    this.setState(connectivityState.TRANSIENT_FAILURE);
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 1000);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (!this.closed && !this.session) this.setState(connectivityState.IDLE);
    }, wait);
    this.backoffTimer.unref();
  }

  private setState(s: connectivityState): void {
    if (this.state === s) return;
    this.state = s;
    if (this.watchers.length === 0) return;
    const fire = this.watchers.filter((w) => w.from !== s);
    this.watchers = this.watchers.filter((w) => w.from === s);
    for (const w of fire) {
      if (w.timer) clearTimeout(w.timer);
      process.nextTick(w.callback);
    }
  }
}
