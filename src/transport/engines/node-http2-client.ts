/**
 * The node:http2 engine of a PodplugChannel: one ClientHttp2Session, and each
 * call's ClientHttp2Stream behind the WireStream seam. Kept beside the frame
 * engine as the conservative choice (`engine: "node-http2"`).
 */
import * as http2 from "node:http2";
import { addMetadataToHeaders } from "../metadata.ts";
import type { RequestSpec, SessionEvents, WireSession, WireSink, WireStream } from "../wire.ts";
import { connectSocket, type DialTarget, SessionReporter } from "./dial.ts";

/** Opens a node:http2 session to `target`. */
export function dialNodeHttp2(target: DialTarget, events: SessionEvents): WireSession {
  return new NodeHttp2Session(target, events);
}

class NodeHttp2Session extends SessionReporter implements WireSession {
  private readonly session: http2.ClientHttp2Session;

  constructor(target: DialTarget, events: SessionEvents) {
    super(events);
    const path = target.path;
    const session = http2.connect(target.tls ? "https://localhost" : "http://localhost", {
      createConnection: () => connectSocket(target),
      // Default flow-control windows, as grpc-js: larger ones together stalled node:http2 after a
      // cancelled big response (a reset stream's in-flight DATA never returned its window).
      settings: { enablePush: false },
      maxSessionMemory: Number.MAX_SAFE_INTEGER, // no memory cap on big messages, as grpc-js sets it
    });
    this.session = session;
    const timer = setTimeout(
      () => session.destroy(new Error(`connecting to ${path} timed out`)),
      target.connectTimeoutMs,
    );
    timer.unref();
    session.once("connect", () => {
      clearTimeout(timer);
      this.markReady();
    });
    let lastError: Error | undefined;
    session.on("error", (err: Error) => (lastError = err));
    session.once("goaway", () => this.markGone(undefined));
    session.once("close", () => {
      clearTimeout(timer);
      this.markGone(lastError);
    });
  }

  get usable(): boolean {
    return this.alive && !this.session.closed && !this.session.destroyed;
  }

  open(spec: RequestSpec, sink: WireSink): WireStream {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": spec.path,
      "content-type": "application/grpc",
      te: "trailers",
    };
    if (spec.timeout) headers["grpc-timeout"] = spec.timeout;
    addMetadataToHeaders(headers, spec.metadata);
    return new NodeHttp2Stream(this.session.request(headers), sink);
  }

  ref(): void {
    this.session.ref();
  }

  unref(): void {
    this.session.unref();
  }

  close(): void {
    this.markGone(undefined);
    if (!this.session.closed) this.session.close();
  }
}

const kWire = Symbol("podplug.nodeWire");
interface TaggedStream extends http2.ClientHttp2Stream {
  [kWire]?: NodeHttp2Stream;
}

// Shared listeners (`this` is the stream): no closures allocated per call.
function onResponse(this: TaggedStream, headers: http2.IncomingHttpHeaders, flags: number): void {
  this[kWire]?.sink.onHeaders(headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0);
}
function onTrailers(this: TaggedStream, headers: http2.IncomingHttpHeaders): void {
  this[kWire]?.sink.onHeaders(headers, true);
}
function onData(this: TaggedStream, chunk: Buffer): void {
  this[kWire]?.sink.onData(chunk);
}
function onEnd(this: TaggedStream): void {
  this[kWire]?.sink.onEnd();
}
function onError(this: TaggedStream, err: Error): void {
  const w = this[kWire];
  if (w) w.error = err;
}
function onClose(this: TaggedStream): void {
  const w = this[kWire];
  if (!w) return;
  this[kWire] = undefined;
  const session = this.session;
  const lost = !session || session.destroyed || session.closed ? (w.error ?? new Error("connection lost")) : undefined;
  w.sink.onClose(this.rstCode, lost);
}

/** One call's node:http2 stream. */
class NodeHttp2Stream implements WireStream {
  readonly sink: WireSink;
  error: Error | undefined;
  private readonly stream: TaggedStream;

  constructor(stream: TaggedStream, sink: WireSink) {
    this.stream = stream;
    this.sink = sink;
    stream[kWire] = this;
    stream.on("response", onResponse);
    stream.on("data", onData);
    stream.on("trailers", onTrailers);
    stream.on("end", onEnd);
    stream.on("close", onClose);
    stream.on("error", onError);
  }

  write(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (cb) this.stream.write(frame, cb);
    else this.stream.write(frame);
  }

  end(): void {
    this.stream.end();
  }

  cancel(): void {
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  release(): void {
    if (!this.stream.closed && !this.stream.writableEnded) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }
}
