/**
 * Client keepalive: finds a peer that stopped answering (SIGSTOPped, hung,
 * its host frozen) while calls wait on it, as grpc-go's client keepalive does
 * (an HTTP/2 PING with a timeout), so calls fail UNAVAILABLE within a second
 * instead of hanging until their deadlines. A socket to a stopped process
 * stays open — the kernel keeps it — so nothing else would notice.
 *
 * The rule: while streams are open and nothing has been read for `timeMs`,
 * send a PING; if nothing at all (the ACK or any other frame) is read within
 * `timeoutMs` after it, the connection is declared dead and every call on it
 * fails. Anything read counts as an answer: a busy peer answering calls is
 * alive, whatever its PING ACK's delay.
 *
 * grpc-go's server enforces its keepalive policy (EnforcementPolicy: MinTime
 * 5 min, no pings without streams): a PING received when the server has sent
 * no HEADERS or DATA since the previous PING, less than MinTime after it, is a
 * strike, and the third strike gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
 * So a PING goes out only if the peer sent HEADERS or DATA since the last
 * one, or `minPingIntervalMs` (MinTime) after it, or as this quiet spell's
 * one strike: a slow call answering nothing gets two PINGs, never a train of
 * them (grpc-go sends GOAWAY at the third strike). The strike PING is what
 * finds a peer that answered the first PING during a slow call and stopped
 * just after (seen in a pod under load: without it the call waited 18 s, for
 * the kubelet's kill). A peer that answered both and hangs later, still
 * sending nothing, is found at the next allowed PING.
 */

/** Keepalive settings of a channel (docs/transport.md). */
export interface KeepaliveOptions {
  /** Silence (nothing read) with streams open before a PING. Default 150 ms. */
  timeMs?: number;
  /** How long after a PING something must be read before the connection is declared dead. Default 700 ms. */
  timeoutMs?: number;
  /**
   * Shortest gap between two PINGs when the peer sent no HEADERS or DATA in
   * between: grpc-go's default server enforcement MinTime, 5 min. Lower it
   * only for peers that permit it.
   */
  minPingIntervalMs?: number;
}

/** The defaults: a call in flight to a peer that stops answering is meant to fail within ≈`timeMs + timeoutMs` (0.85 s, as measured: docs/transport.md). */
export const KEEPALIVE_DEFAULTS: Readonly<Required<KeepaliveOptions>> = {
  timeMs: 150,
  timeoutMs: 700,
  minPingIntervalMs: 5 * 60_000,
};

/** What keepalive needs of a connection. */
export interface KeepaliveConnection {
  /** Streams open or waiting to open. */
  readonly activeStreams: number;
  /** True once the connection is over. */
  readonly closed: boolean;
  /** performance.now() of the last bytes read. */
  readonly lastReadAt: number;
  /** True when HEADERS or DATA arrived since the last call (and clears it). */
  takePeerData(): boolean;
  /** Sends a PING. */
  ping(): void;
  /** Declares the connection dead: every call on it fails with `err`. */
  fail(err: Error): void;
}

/** One connection's keepalive. Runs only while streams are open; its timer never holds the process. */
export class Keepalive {
  private readonly conn: KeepaliveConnection;
  private readonly o: Required<KeepaliveOptions>;
  private readonly onDead: (silentMs: number) => Error;
  private timer: NodeJS.Timeout | undefined;
  /** A decision waiting for the next poll for I/O (see check). */
  private immediate: NodeJS.Immediate | undefined;
  /** When watching began: silence counts from here if nothing was read since. */
  private since = 0;
  private pingAt = Number.NEGATIVE_INFINITY;
  private awaiting = false;
  private peerDataSincePing = true;
  /** This quiet spell's one PING without peer data since the last has been sent. */
  private strikeSpent = false;

  /** `onDead` makes the error calls fail with. */
  constructor(conn: KeepaliveConnection, options: KeepaliveOptions, onDead: (silentMs: number) => Error) {
    this.conn = conn;
    this.o = { ...KEEPALIVE_DEFAULTS, ...options };
    this.onDead = onDead;
  }

  /** A stream opened: watch the connection (a no-op while already watching). */
  watch(): void {
    if (this.timer !== undefined || this.immediate !== undefined) return;
    this.since = performance.now();
    this.arm(this.o.timeMs);
  }

  /** Stops for good (the connection closed). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.check, Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  /** The timeout passed and the socket has been read since: dead only if still nothing came. */
  private readonly confirm = (): void => {
    this.immediate = undefined;
    const c = this.conn;
    if (c.closed) return;
    if (c.lastReadAt > this.pingAt) {
      this.awaiting = false;
      this.check();
      return;
    }
    c.fail(this.onDead(performance.now() - Math.max(c.lastReadAt, this.since)));
  };

  private readonly check = (): void => {
    this.timer = undefined;
    const c = this.conn;
    if (c.closed) return;
    if (c.takePeerData()) this.peerDataSincePing = true;
    const now = performance.now();
    const lastRead = Math.max(c.lastReadAt, this.since);
    if (this.awaiting) {
      if (c.lastReadAt > this.pingAt) this.awaiting = false;
      else if (now - this.pingAt >= this.o.timeoutMs) {
        // Timers run before I/O in a loop turn: after a stall of this process the answer may be
        // waiting unread in the socket. Decide after the next poll for I/O, not before it.
        // Left ref'd: libuv's poll blocks until the next timer or I/O while only unref'd
        // immediates wait, which delayed this decision by seconds (up to 7.8 s measured).
        this.immediate = setImmediate(this.confirm);
        return;
      } else {
        this.arm(this.pingAt + this.o.timeoutMs - now);
        return;
      }
    }
    // Idle: nothing to protect; the next stream starts watching again.
    if (c.activeStreams === 0) return;
    const silent = now - lastRead;
    if (silent < this.o.timeMs) {
      this.arm(this.o.timeMs - silent);
      return;
    }
    const strike = !this.peerDataSincePing && now - this.pingAt < this.o.minPingIntervalMs;
    if (strike && this.strikeSpent) {
      // The peer answered the last PINGs and sends nothing: another PING now would be a further strike.
      // Look again soon: once it sends HEADERS or DATA, a PING is allowed again.
      this.arm(Math.min(this.o.timeMs, this.o.minPingIntervalMs - (now - this.pingAt)));
      return;
    }
    // One PING per quiet spell may be a strike (grpc-go tolerates two, and HEADERS or DATA it sends clear
    // them): a peer that answered a PING during a slow call and then stopped is still found in ≈timeMs +
    // timeoutMs, not at the next PING its silence allows (minutes).
    this.strikeSpent = strike;
    this.pingAt = now;
    this.awaiting = true;
    this.peerDataSincePing = false;
    c.ping();
    this.arm(this.o.timeoutMs);
  };
}
