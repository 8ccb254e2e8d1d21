/**
 * What one HTTP/2 connection of podplug's engine accepts from its peer. A
 * plugin must not be able to take its host down (nor a host a plugin's
 * server): every count and size the peer controls is bounded here, each
 * default taken from an implementation that has faced the same attacks
 * (docs/transport.md, "Limits", gives each default's source).
 */

/** The limits of one connection; every field has a default in {@link DEFAULT_H2_LIMITS}. */
export interface H2Limits {
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE, advertised and enforced: the most a header
   * block may hold, counted both as received bytes (HEADERS + CONTINUATION)
   * and as decoded size (RFC 9113 §6.5.2: name + value + 32 per field).
   */
  maxHeaderListSize: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS a server advertises; streams beyond it are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /**
   * Control-frame answers (PING and SETTINGS acknowledgements, RST_STREAM)
   * queued while the peer reads nothing: beyond this, GOAWAY ENHANCE_YOUR_CALM.
   */
  maxQueuedControlFrames: number;
  /**
   * Frames that carry nothing (empty DATA without END_STREAM, empty CONTINUATION)
   * and streams refused, per connection: beyond this, GOAWAY ENHANCE_YOUR_CALM.
   */
  maxInvalidFrames: number;
  /** Stream resets the peer may send in a burst (rapid reset, CVE-2023-44487), refilled at {@link resetRate} per second. */
  resetBurst: number;
  resetRate: number;
  /** Entries in one SETTINGS frame. */
  maxSettingsEntries: number;
  /**
   * Bytes the peer may leave in streams whose reader paused (received, not yet
   * read, not returned to its window), over the whole connection. The stream
   * that goes past it is reset ENHANCE_YOUR_CALM; the connection window keeps
   * coming back, so the other streams go on.
   */
  maxPausedBytes: number;
  /**
   * Bytes this end may have waiting to go to the peer (framed but not yet
   * written by the socket, or waiting for the peer's window), per connection.
   * A write past it resets its stream (ENHANCE_YOUR_CALM) and fails its call
   * (`TRANSPORT_H2_SEND_QUEUE_FULL`): a peer that never reads cannot make this
   * end buffer without end. Writers that wait for their write callbacks never
   * reach it (the callbacks wait while the socket holds more than 1 MiB).
   */
  maxSendQueueBytes: number;
}

/** The defaults (sources in docs/transport.md). */
export const DEFAULT_H2_LIMITS: Readonly<H2Limits> = Object.freeze({
  maxHeaderListSize: 1 << 20,
  maxConcurrentStreams: 100,
  maxQueuedControlFrames: 10_000,
  maxInvalidFrames: 1000,
  resetBurst: 1000,
  resetRate: 33,
  maxSettingsEntries: 32,
  maxPausedBytes: 16 << 20,
  maxSendQueueBytes: 32 << 20,
});

/** The defaults with `over` applied (undefined fields keep their default). */
export function h2Limits(over: Partial<H2Limits> | undefined): H2Limits {
  const out: H2Limits = { ...DEFAULT_H2_LIMITS };
  if (over) for (const k of Object.keys(over) as (keyof H2Limits)[]) if (over[k] !== undefined) out[k] = over[k]!;
  return out;
}

/**
 * Connections one server keeps open at a time (a plugin's server has one host,
 * a broker server one plugin; reconnects and probes add a few). Past it a new
 * connection gets SETTINGS and GOAWAY ENHANCE_YOUR_CALM and is closed, and the
 * server reports `TRANSPORT_TOO_MANY_CONNECTIONS`: a peer that opens
 * connections without end holds at most this many, each under the limits above.
 */
export const DEFAULT_MAX_CONNECTIONS = 100;
