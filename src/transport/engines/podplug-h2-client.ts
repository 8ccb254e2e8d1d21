/**
 * The podplug HTTP/2 engine of a PodplugChannel (the default): podplug's own HTTP/2
 * client (h2/connection.ts, client side) over the Unix socket, h2c or TLS with ALPN h2. A
 * call's constant header fields are encoded once per method and reused.
 */
import type * as net from "node:net";
import type * as tls from "node:tls";
import { TransportError } from "../errors.ts";
import { H2Connection } from "../h2/connection.ts";
import { encodeHeaders } from "../h2/hpack.ts";
import { Keepalive } from "../keepalive.ts";
import type { RequestSpec, SessionEvents, WireSession, WireSink, WireStream } from "../wire.ts";
import { connectSocket, type DialTarget, SessionReporter } from "./dial.ts";

/** Opens a frame-engine session to `target`. */
export function dialPodplugH2(target: DialTarget, events: SessionEvents): WireSession {
  return new PodplugH2Session(target, events);
}

/** Header blocks of `:method POST, :path, :authority, content-type, te` per method path. */
const baseBlocks = new Map<string, Buffer>();
const MAX_CACHED_PATHS = 4096;

function baseBlock(path: string): Buffer {
  let b = baseBlocks.get(path);
  if (b) return b;
  // 0x83 is the static entry `:method: POST`; :scheme is added by the session.
  b = Buffer.concat([
    Buffer.from([0x83]),
    encodeHeaders([
      [":path", path],
      [":authority", "localhost"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]),
  ]);
  if (baseBlocks.size < MAX_CACHED_PATHS) baseBlocks.set(path, b);
  return b;
}

/** The whole request header block: the cached base, then timeout and metadata if any. */
function headerBlock(spec: RequestSpec): Buffer {
  const base = baseBlock(spec.path);
  const extra: [string, string][] = [];
  if (spec.timeout) extra.push(["grpc-timeout", spec.timeout]);
  const md = spec.metadata.toHttp2Headers();
  for (const key in md) {
    const v = md[key];
    if (Array.isArray(v)) for (const one of v) extra.push([key, String(one)]);
    else if (v !== undefined) extra.push([key, String(v)]);
  }
  return extra.length === 0 ? base : Buffer.concat([base, encodeHeaders(extra)]);
}

class PodplugH2Session extends SessionReporter implements WireSession {
  private readonly h2: H2Connection;
  private readonly socket: net.Socket;
  private readonly keepalive: Keepalive | undefined;

  constructor(target: DialTarget, events: SessionEvents) {
    super(events);
    const t = target.tls;
    const socket = connectSocket(target);
    this.socket = socket;
    if (t) {
      socket.once("secureConnect", () => {
        // gRPC requires h2 by ALPN (grpc-go refuses connections without it; so do we).
        if ((socket as tls.TLSSocket).alpnProtocol !== "h2")
          this.h2.destroy(new Error(`${target.path} did not negotiate HTTP/2 (ALPN h2)`));
      });
    }
    const timer = setTimeout(
      () => this.h2.destroy(new Error(`connecting to ${target.path} timed out`)),
      target.connectTimeoutMs,
    );
    timer.unref();
    this.h2 = new H2Connection(socket, {
      role: "client",
      scheme: t ? "https" : "http",
      ...(target.limits ? { limits: target.limits } : {}),
      ...(target.onPeerError ? { onPeerError: target.onPeerError } : {}),
      onReady: () => {
        clearTimeout(timer);
        this.markReady();
      },
      onDraining: () => this.markGone(undefined),
      onClosed: (err) => {
        clearTimeout(timer);
        this.keepalive?.stop();
        this.markGone(err);
      },
    });
    const h2 = this.h2;
    if (target.keepalive !== false) {
      this.keepalive = new Keepalive(
        {
          get activeStreams() {
            return h2.activeStreams;
          },
          get closed() {
            return h2.closed;
          },
          get lastReadAt() {
            return h2.lastReadAt;
          },
          takePeerData: () => h2.takePeerData(),
          ping: () => h2.ping(),
          fail: (err) => h2.destroy(err),
        },
        target.keepalive ?? {},
        (silentMs) =>
          new TransportError(
            "TRANSPORT_KEEPALIVE_TIMEOUT",
            `${target.path} stopped answering: nothing read for ${Math.round(silentMs)} ms, keepalive PING unanswered (TRANSPORT_KEEPALIVE_TIMEOUT)`,
          ),
      );
    }
  }

  get usable(): boolean {
    return this.alive && !this.h2.draining && !this.h2.closed;
  }

  open(spec: RequestSpec, sink: WireSink): WireStream {
    const s = this.h2.request(headerBlock(spec), sink);
    this.keepalive?.watch();
    return s;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  close(): void {
    this.h2.close();
  }
}
