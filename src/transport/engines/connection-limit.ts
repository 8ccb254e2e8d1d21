/**
 * The connection limit both server engines keep (`podplug.maxConnections`):
 * past it a new connection gets GOAWAY ENHANCE_YOUR_CALM naming the limit and
 * is closed after a linger, and the server's owner hears
 * TRANSPORT_TOO_MANY_CONNECTIONS at most once per {@link REPORT_EVERY_MS}
 * (a flood of connections must not flood the log).
 */
import { TransportError } from "../errors.ts";
import { H2_ERROR } from "../h2/connection.ts";
import { DEFAULT_MAX_CONNECTIONS } from "../h2/limits.ts";

/** Sockets beyond the connection limit that may be in their TLS handshake or being refused at once (a few KB each). */
export const PENDING_SOCKETS = 1000;
/** How long a refused socket stays half-closed for its GOAWAY to be read (Go's http2 goAwayTimeout: 1 s). */
export const REFUSAL_LINGER_MS = 1000;
/** The least time between two reports of refused connections. */
export const REPORT_EVERY_MS = 10_000;

/** One server's connection limit, and its reports of refusals. */
export class ConnectionLimit {
  readonly max: number;
  private readonly onPeerError: ((err: TransportError) => void) | undefined;
  /** When refusals were last reported. */
  private reportedAt = Number.NEGATIVE_INFINITY;

  constructor(max: number | undefined, onPeerError: ((err: TransportError) => void) | undefined) {
    this.max = max ?? DEFAULT_MAX_CONNECTIONS;
    this.onPeerError = onPeerError;
  }

  /** The GOAWAY debug data of a refused connection. */
  get reason(): string {
    return `podplug: too many connections (this server keeps at most ${this.max})`;
  }

  /** A connection was refused while `open` were open: reported unless a report went out in the last 10 s. */
  refused(open: number): void {
    const now = performance.now();
    if (now - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = now;
    this.onPeerError?.(
      new TransportError(
        "TRANSPORT_TOO_MANY_CONNECTIONS",
        `refused a connection: ${open} are open, the most this server keeps (podplug.maxConnections ${this.max}); a peer opening connections without end, or raise the limit`,
        { limit: this.max, open, h2Code: H2_ERROR.ENHANCE_YOUR_CALM },
      ),
    );
  }
}
