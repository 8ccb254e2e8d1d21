/**
 * PodplugServer's podplug HTTP/2 engine (the default): podplug's own HTTP/2 connection
 * (h2/connection.ts, server side) on a net or TLS server bound to the Unix
 * socket. TLS requires ALPN h2 and, for AutoMTLS, a client certificate
 * signed by the given CA. The common response header blocks are encoded once.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import type { TransportError } from "../errors.ts";
import { type ServerBudget, type ServerBudgets, serverBudgets } from "../h2/byte-budget.ts";
import { H2_ERROR, H2Connection, type H2Stream, type StreamSink } from "../h2/connection.ts";
import { encodeHeaders } from "../h2/hpack.ts";
import type { H2Limits } from "../h2/limits.ts";
import type {
  OutHeaders,
  ServerEngine,
  ServerTlsPems,
  ServerWireSink,
  ServerWireStream,
  StreamDispatcher,
  WireHeaders,
} from "../wire.ts";
import { ConnectionLimit, PENDING_SOCKETS, REFUSAL_LINGER_MS } from "./connection-limit.ts";

/** What a server's connections accept from clients, and who hears of a client that broke the rules. */
export interface PeerOptions {
  limits?: Partial<H2Limits> | undefined;
  onPeerError?: ((err: TransportError) => void) | undefined;
  /** Connections open at a time (default DEFAULT_MAX_CONNECTIONS); past it new ones are refused. */
  maxConnections?: number | undefined;
  /** What all connections hold together (defaults: DEFAULT_SERVER_BUDGET). */
  budget?: Partial<ServerBudget> | undefined;
}

/** Bytes all connections of a server engine hold now, against its budget. */
export interface BudgetUse {
  pausedBytes: number;
  sendQueueBytes: number;
}

/** podplug's engine: a server engine that can also tell what its connections hold against the server's budget. */
export interface BudgetedServerEngine extends ServerEngine {
  budgetUse(): BudgetUse;
}

/** Creates the podplug HTTP/2 engine of a server. */
export function podplugH2ServerEngine(
  pems: ServerTlsPems | undefined,
  dispatch: StreamDispatcher,
  peer: PeerOptions = {},
): BudgetedServerEngine {
  return new PodplugH2ServerEngine(pems, dispatch, peer);
}

/** `:status: 200` (static entry 8) and the gRPC content-type. */
const RESPONSE = Buffer.concat([Buffer.from([0x88]), encodeHeaders([["content-type", "application/grpc"]])]);
const TRAILERS_OK = encodeHeaders([["grpc-status", "0"]]);

/** A refused connection's answer: the server preface (empty SETTINGS), then GOAWAY ENHANCE_YOUR_CALM naming why. */
function refusal(reason: string): Buffer {
  const debug = Buffer.from(reason);
  const goaway = Buffer.alloc(17 + debug.length);
  goaway.writeUIntBE(8 + debug.length, 0, 3);
  goaway[3] = 0x7; // GOAWAY, stream 0, last stream 0
  goaway.writeUInt32BE(H2_ERROR.ENHANCE_YOUR_CALM, 13);
  debug.copy(goaway, 17);
  return Buffer.concat([Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]), goaway]);
}

function pairs(h: OutHeaders): [string, string][] {
  const out: [string, string][] = [];
  for (const k in h) {
    const v = h[k]!;
    if (Array.isArray(v)) for (const one of v) out.push([k, one]);
    else out.push([k, v]);
  }
  return out;
}

function trailerBlock(t: OutHeaders): Buffer {
  // The common case, a bare OK, is one cached block.
  let n = 0;
  for (const _ in t) n++;
  if (n === 1 && t["grpc-status"] === "0") return TRAILERS_OK;
  return encodeHeaders(pairs(t));
}

class PodplugH2ServerEngine implements BudgetedServerEngine {
  private readonly server: net.Server;
  private readonly conns = new Set<H2Connection>();
  private readonly dispatch: StreamDispatcher;
  private shuttingDown = false;
  private onConnClosed: (() => void) | undefined;

  private readonly peer: PeerOptions;
  private readonly limit: ConnectionLimit;
  /** Shared by every connection of this server. */
  private readonly budgets: ServerBudgets;

  constructor(pems: ServerTlsPems | undefined, dispatch: StreamDispatcher, peer: PeerOptions) {
    this.dispatch = dispatch;
    this.peer = peer;
    this.limit = new ConnectionLimit(peer.maxConnections, peer.onPeerError);
    this.budgets = serverBudgets(peer.budget);
    this.server = pems
      ? tls.createServer(
          {
            ca: pems.ca,
            key: pems.key,
            cert: pems.cert,
            requestCert: pems.requireClientCert,
            rejectUnauthorized: pems.requireClientCert,
            ALPNProtocols: ["h2"],
          },
          (socket) => this.accept(socket, true),
        )
      : net.createServer((socket) => this.accept(socket, false));
    // Sockets before HTTP/2 (TLS handshakes, refusals being written) are bounded too: node drops those past it.
    this.server.maxConnections = this.limit.max + PENDING_SOCKETS;
    this.server.on("drop", () => this.refuse(undefined));
  }

  /** What the connections hold together now (a read-only view, for tests and metrics). */
  budgetUse(): BudgetUse {
    return { pausedBytes: this.budgets.paused.used, sendQueueBytes: this.budgets.sendQueue.used };
  }

  listen(path: string, cb: (err: Error | null) => void): void {
    const onError = (err: Error): void => cb(err);
    this.server.once("error", onError);
    this.server.listen(path, () => {
      this.server.off("error", onError);
      this.server.on("error", () => undefined);
      cb(null);
    });
  }

  tryShutdown(cb: () => void): void {
    this.shuttingDown = true;
    let serverClosed = false;
    const check = (): void => {
      if (serverClosed && this.conns.size === 0) {
        this.onConnClosed = undefined;
        cb();
      }
    };
    this.onConnClosed = check;
    this.server.close(() => {
      serverClosed = true;
      check();
    });
    for (const c of [...this.conns]) c.close();
  }

  forceShutdown(): void {
    this.shuttingDown = true;
    for (const c of [...this.conns]) c.destroy(new Error("server shut down"));
    this.conns.clear();
    this.server.close();
  }

  private accept(socket: net.Socket, secure: boolean): void {
    socket.on("error", () => undefined);
    // gRPC over TLS is h2 by ALPN only.
    if (this.shuttingDown || (secure && (socket as tls.TLSSocket).alpnProtocol !== "h2")) {
      socket.destroy();
      return;
    }
    if (this.conns.size >= this.limit.max) {
      this.refuse(socket);
      return;
    }
    const conn: H2Connection = new H2Connection(socket, {
      role: "server",
      ...(this.peer.limits ? { limits: this.peer.limits } : {}),
      ...(this.peer.onPeerError ? { onPeerError: this.peer.onPeerError } : {}),
      budgets: this.budgets,
      onStream: (s, headers) => this.onStream(s, headers),
      onReady: () => undefined,
      onDraining: () => undefined,
      onClosed: () => {
        this.conns.delete(conn);
        this.onConnClosed?.();
      },
    });
    this.conns.add(conn);
  }

  /**
   * Refuses a connection past the limit: SETTINGS and GOAWAY
   * ENHANCE_YOUR_CALM (a gRPC client fails its calls UNAVAILABLE with the
   * reason), then the socket closes once written.
   */
  private refuse(socket: net.Socket | undefined): void {
    if (socket) {
      // Half-closed, reading and dropping what the client sends for up to 1 s (as after any GOAWAY): closing
      // with its preface unread would reset the socket, and the client would never read why.
      socket.on("data", () => undefined);
      socket.end(refusal(this.limit.reason));
      setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    }
    this.limit.refused(this.conns.size);
  }

  private onStream(s: H2Stream, headers: WireHeaders): StreamSink {
    const wire = new PodplugH2ServerStream(s);
    wire.sink = this.dispatch(wire, headers);
    return wire;
  }
}

/** One call's stream on the podplug HTTP/2 engine: the call's wire, and the connection's sink for it. */
class PodplugH2ServerStream implements ServerWireStream, StreamSink {
  sink: ServerWireSink | undefined;
  private readonly s: H2Stream;

  constructor(s: H2Stream) {
    this.s = s;
  }

  onHeaders(): void {
    // Request trailers: gRPC clients send none; nothing in them matters here.
  }

  onData(chunk: Buffer): void {
    this.sink?.onData(chunk);
  }

  onEnd(): void {
    this.sink?.onEnd();
  }

  onClose(): void {
    this.sink?.onGone();
  }

  sendHeaders(extra: OutHeaders | undefined): void {
    this.s.respond(extra ? Buffer.concat([RESPONSE, encodeHeaders(pairs(extra))]) : RESPONSE, false);
  }

  write(frame: Buffer, cb?: (err?: Error | null) => void): void {
    this.s.write(frame, cb);
  }

  finish(trailers: OutHeaders, headersSent: boolean, last?: Buffer): void {
    const s = this.s;
    if (!headersSent) {
      s.respond(Buffer.concat([RESPONSE, trailerBlock(trailers)]), true);
    } else {
      if (last) s.write(last);
      s.end(trailerBlock(trailers));
    }
    // The client still sending? Tell it to stop (grpc-go does the same), once our side is all out.
    if (s.localEnded && !s.remoteEnded) s.reset(H2_ERROR.NO_ERROR);
  }

  cancel(): void {
    this.s.cancel();
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }

  hold(bytes: number): void {
    this.s.holdRead(bytes);
  }
}
