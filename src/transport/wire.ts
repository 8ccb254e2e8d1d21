/**
 * The seam between a call and the HTTP/2 implementation carrying it. A
 * PodplugChannel or PodplugServer runs on one engine: podplug's own HTTP/2
 * engine (h2/), or node:http2.
 * Calls see only these interfaces.
 */
import type { Metadata } from "@grpc/grpc-js";

/** Received header fields, repeated names as arrays (node:http2's shape). */
export type WireHeaders = Record<string, string | string[] | undefined>;

/** What a call needs to start: its method path, grpc-timeout value and metadata. */
export interface RequestSpec {
  path: string;
  timeout: string | undefined;
  metadata: Metadata;
}

/** The call side of a stream: the engine reports here, synchronously. */
export interface WireSink {
  /** Response headers (first block) or trailers (later block, or a Trailers-Only first block). */
  onHeaders(headers: WireHeaders, endStream: boolean): void;
  onData(chunk: Buffer): void;
  /** Every DATA byte and the trailers were reported. */
  onEnd(): void;
  /** The stream is gone: `rstCode` if it was reset; `lost` when the connection failed or refused it. */
  onClose(rstCode: number | undefined, lost: Error | undefined): void;
}

/** The engine side of a stream, as a call drives it. */
export interface WireStream {
  write(frame: Buffer, cb?: (err?: Error | null) => void): void;
  /** Half-close (END_STREAM). */
  end(): void;
  /** RST_STREAM CANCEL, unless the stream is already closed. */
  cancel(): void;
  /** The call is over: reset the stream only if our side is still open (a finished exchange sends nothing). */
  release(): void;
  /** Stop taking data (flow control pushes back on the peer); resume() undoes it. */
  pause(): void;
  resume(): void;
}

/** Connection events an engine reports to its channel. */
export interface SessionEvents {
  /** The peer speaks HTTP/2 (TLS verified, SETTINGS received). */
  onReady(): void;
  /** The session takes no new streams (GOAWAY, failure, close); called once. */
  onGone(wasReady: boolean, err: Error | undefined): void;
}

/** One connection of an engine. */
export interface WireSession {
  /** False once it takes no new streams. */
  readonly usable: boolean;
  /** Opens a stream; throws when the session cannot take it. */
  open(spec: RequestSpec, sink: WireSink): WireStream;
  ref(): void;
  unref(): void;
  /** Graceful: streams in flight finish. */
  close(): void;
}

/** Header fields to send (names lowercase). */
export type OutHeaders = Record<string, string | string[]>;

/** The server side of one call's stream, as PodplugServer drives it. */
export interface ServerWireStream {
  /** Response headers: `:status` 200, the gRPC content-type, then `extra` (metadata). */
  sendHeaders(extra: OutHeaders | undefined): void;
  write(frame: Buffer, cb?: (err?: Error | null) => void): void;
  /**
   * Ends the response with `trailers` (grpc-status, ...): after the headers and
   * `last` (a final message) when headers were sent, else as Trailers-Only.
   */
  finish(trailers: OutHeaders, headersSent: boolean, last?: Buffer): void;
  /** RST_STREAM CANCEL. */
  cancel(): void;
  /** Stop taking request data (flow control pushes back on the client); resume() undoes it. */
  pause(): void;
  resume(): void;
  /**
   * `bytes` of request messages the handler holds unread (negative: it read
   * them). podplug's engine counts them as paused bytes, under the
   * connection's maxPausedBytes and the server's budget (past either, the
   * stream is reset ENHANCE_YOUR_CALM); node:http2 keeps its own accounting.
   */
  hold(bytes: number): void;
}

/** The call side of a server stream: the engine reports the request here. */
export interface ServerWireSink {
  onData(chunk: Buffer): void;
  /** The client half-closed (every request byte was reported). */
  onEnd(): void;
  /** The stream is gone (reset by the client, connection lost, or closed after the response). */
  onGone(): void;
}

/** Where an engine hands a new server stream: returns the sink for its request side. */
export type StreamDispatcher = (stream: ServerWireStream, headers: WireHeaders) => ServerWireSink | undefined;

/** A listening engine of PodplugServer. */
export interface ServerEngine {
  /** Listens on the Unix socket `path`. */
  listen(path: string, cb: (err: Error | null) => void): void;
  /** Stops accepting, lets calls in flight finish, then calls back. */
  tryShutdown(cb: () => void): void;
  /** Closes everything at once. */
  forceShutdown(): void;
}

/** TLS of a server engine: PEMs, and whether client certificates are required and verified. */
export interface ServerTlsPems {
  ca: string | Buffer | (string | Buffer)[];
  key: string | Buffer | (string | Buffer)[];
  cert: string | Buffer | (string | Buffer)[];
  requireClientCert: boolean;
}
