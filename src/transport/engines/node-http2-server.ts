/**
 * PodplugServer's node:http2 engine (`engine: "node-http2"`): an Http2Server
 * (or Http2SecureServer) on the Unix socket, each stream behind the
 * ServerWireStream seam. node keeps its own HTTP/2 limits; the connection
 * limit (`podplug.maxConnections`) is podplug's, as on its own engine.
 */
import * as http2 from "node:http2";
import type { TransportError } from "../errors.ts";
import type {
  OutHeaders,
  ServerEngine,
  ServerTlsPems,
  ServerWireSink,
  ServerWireStream,
  StreamDispatcher,
} from "../wire.ts";
import { ConnectionLimit, PENDING_SOCKETS, REFUSAL_LINGER_MS } from "./connection-limit.ts";

/** Streams must always have an error listener; failures show up as 'close'. */
function ignoreError(): void {}

/** What the node:http2 engine takes of a server's peer options: its connection limit, and who hears of refusals. */
export interface NodePeerOptions {
  maxConnections?: number | undefined;
  onPeerError?: ((err: TransportError) => void) | undefined;
}

/** Creates the node:http2 engine. */
export function nodeHttp2ServerEngine(
  pems: ServerTlsPems | undefined,
  dispatch: StreamDispatcher,
  peer: NodePeerOptions = {},
): ServerEngine {
  return new NodeHttp2ServerEngine(pems, dispatch, peer);
}

class NodeHttp2ServerEngine implements ServerEngine {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Sessions past the limit, lingering for their GOAWAY to be read: their streams are refused. */
  private readonly refusedSessions = new WeakSet<http2.Http2Session>();
  private readonly limit: ConnectionLimit;
  private shuttingDown = false;

  constructor(pems: ServerTlsPems | undefined, dispatch: StreamDispatcher, peer: NodePeerOptions) {
    this.limit = new ConnectionLimit(peer.maxConnections, peer.onPeerError);
    const common = {
      // Default flow-control windows, as grpc-js (see node-http2-client.ts on larger ones).
      settings: { enablePush: false },
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    this.server = pems
      ? http2.createSecureServer({
          ...common,
          ca: pems.ca,
          key: pems.key,
          cert: pems.cert,
          requestCert: pems.requireClientCert,
          rejectUnauthorized: pems.requireClientCert,
          ALPNProtocols: ["h2"],
          allowHTTP1: false,
        })
      : http2.createServer(common);
    this.server.on("session", (session: http2.ServerHttp2Session) => {
      if (this.shuttingDown) {
        session.destroy();
        return;
      }
      session.on("error", ignoreError);
      if (this.sessions.size >= this.limit.max) {
        this.refuse(session);
        return;
      }
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
    });
    this.server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      stream.on("error", ignoreError);
      if (this.refusedSessions.has(stream.session!)) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      const wire = new NodeHttp2ServerStream(stream);
      const sink = dispatch(wire, headers);
      if (sink) wire.attach(sink);
    });
    this.server.on("unknownProtocol", (socket: { destroy(): void }) => socket.destroy());
    // Sockets before HTTP/2 (TLS handshakes, refusals lingering) are bounded too: node drops those past it.
    this.server.maxConnections = this.limit.max + PENDING_SOCKETS;
    this.server.on("drop", () => this.limit.refused(this.sessions.size));
  }

  /**
   * A session past the limit: GOAWAY ENHANCE_YOUR_CALM naming it, after node's
   * SETTINGS, then closed once the client had REFUSAL_LINGER_MS to read why.
   */
  private refuse(session: http2.ServerHttp2Session): void {
    this.refusedSessions.add(session);
    session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from(this.limit.reason));
    setTimeout(() => session.destroy(), REFUSAL_LINGER_MS).unref();
    this.limit.refused(this.sessions.size);
  }

  listen(path: string, cb: (err: Error | null) => void): void {
    const onError = (err: Error): void => cb(err);
    this.server.once("error", onError);
    this.server.listen(path, () => {
      this.server.off("error", onError);
      this.server.on("error", ignoreError);
      cb(null);
    });
  }

  tryShutdown(cb: () => void): void {
    this.shuttingDown = true;
    let pending = 1 + this.sessions.size;
    const done = (): void => {
      if (--pending === 0) cb();
    };
    this.server.close(() => done());
    for (const s of this.sessions) {
      if (s.closed || s.destroyed) done();
      else s.close(done);
    }
  }

  forceShutdown(): void {
    this.shuttingDown = true;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.server.close();
  }
}

const kWire = Symbol("podplug.nodeServerWire");
interface TaggedStream extends http2.ServerHttp2Stream {
  [kWire]?: NodeHttp2ServerStream;
}

// Shared listeners (`this` is the stream): no closures allocated per call.
function onWantTrailers(this: TaggedStream): void {
  const w = this[kWire];
  const t = w?.trailersToSend;
  if (!w || !t) return;
  w.trailersToSend = undefined;
  if (!this.destroyed) this.sendTrailers(t);
}
function onData(this: TaggedStream, chunk: Buffer): void {
  this[kWire]?.sink?.onData(chunk);
}
function onEnd(this: TaggedStream): void {
  this[kWire]?.sink?.onEnd();
}
function onGone(this: TaggedStream): void {
  this[kWire]?.sink?.onGone();
}

/** One call's node:http2 server stream. */
class NodeHttp2ServerStream implements ServerWireStream {
  sink: ServerWireSink | undefined;
  trailersToSend: OutHeaders | undefined;
  private readonly stream: TaggedStream;

  constructor(stream: TaggedStream) {
    this.stream = stream;
    stream[kWire] = this;
  }

  attach(sink: ServerWireSink): void {
    this.sink = sink;
    const s = this.stream;
    s.on("data", onData);
    s.on("end", onEnd);
    s.on("close", onGone);
    // A client's RST_STREAM also ends the request side ('end'); 'aborted' comes first and tells them apart.
    s.on("aborted", onGone);
  }

  sendHeaders(extra: OutHeaders | undefined): void {
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    s.on("wantTrailers", onWantTrailers);
    s.respond({ ":status": 200, "content-type": "application/grpc", ...extra }, { waitForTrailers: true });
  }

  write(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (cb) this.stream.write(frame, cb);
    else this.stream.write(frame);
  }

  finish(trailers: OutHeaders, headersSent: boolean, last?: Buffer): void {
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    if (!headersSent) {
      s.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      return;
    }
    this.trailersToSend = trailers;
    if (last) s.end(last);
    else s.end();
  }

  cancel(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  /** node:http2 returns window as its stream is read: messages the handler holds are not counted here. */
  hold(_bytes: number): void {}
}
