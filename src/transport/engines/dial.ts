/**
 * What both engines share about a connection: where it goes (a Unix socket,
 * h2c or TLS with ALPN h2 and go-plugin's `localhost` name) and telling the
 * channel once when it became ready and when it is gone.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { TRANSPORT_ENV } from "../../constants.ts";
import type { TransportError } from "../errors.ts";
import type { H2Limits } from "../h2/limits.ts";
import type { KeepaliveOptions } from "../keepalive.ts";
import type { SessionEvents } from "../wire.ts";

/** The HTTP/2 implementations: podplug's HTTP/2 engine, or node:http2. */
export type Engine = "podplug" | "node-http2";

/** The engine when none is given: PODPLUG_HTTP2_ENGINE=node-http2 selects node:http2 (a switch for operators). */
export function defaultEngine(env: NodeJS.ProcessEnv = process.env): Engine {
  return env[TRANSPORT_ENV.http2Engine] === "node-http2" ? "node-http2" : "podplug";
}

/** Where and how an engine connects. */
export interface DialTarget {
  path: string;
  tls?: { ca: string | Buffer; key: string | Buffer; cert: string | Buffer; servername?: string };
  connectTimeoutMs: number;
  /** Client keepalive (podplug's engine; false: none). */
  keepalive?: KeepaliveOptions | false;
  /** podplug's engine: what the server may send (DEFAULT_H2_LIMITS otherwise). */
  limits?: Partial<H2Limits>;
  /** The server broke HTTP/2 or a limit; the connection is closing. */
  onPeerError?: (err: TransportError) => void;
}

/** Opens the socket of a connection (not yet connected when returned). */
export function connectSocket(target: DialTarget): net.Socket {
  const t = target.tls;
  if (!t) return net.connect(target.path);
  return tls.connect({
    path: target.path,
    ca: t.ca,
    key: t.key,
    cert: t.cert,
    servername: t.servername ?? "localhost",
    ALPNProtocols: ["h2"],
  });
}

/** Reports a session's readiness and its end to the channel, each at most once. */
export abstract class SessionReporter {
  private gone = false;
  private connected = false;
  private readonly events: SessionEvents;

  constructor(events: SessionEvents) {
    this.events = events;
  }

  /** True until the session is reported gone. */
  protected get alive(): boolean {
    return !this.gone;
  }

  protected markReady(): void {
    this.connected = true;
    if (!this.gone) this.events.onReady();
  }

  protected markGone(err: Error | undefined): void {
    if (this.gone) return;
    this.gone = true;
    this.events.onGone(this.connected, err);
  }
}
