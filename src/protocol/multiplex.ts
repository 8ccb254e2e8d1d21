/**
 * go-plugin's GRPCBrokerMultiplex (PLUGIN_MULTIPLEX_GRPC, go-plugin ≥ 1.6):
 * the host dials the plugin's socket once and runs yamux on it; the main
 * gRPC connection and every broker connection are yamux streams. A side
 * that dials a broker id first "knocks" on the broker stream; the side
 * serving it acks and hands the next stream the peer opens to that id.
 *
 * podplug's gRPC servers and channels listen on and dial Unix sockets, so
 * each stream is spliced to a private local socket (`mux<random>` in the
 * socket folder): the peer's TLS bytes pass through untouched, and both
 * transports (podplug's and grpc-js) work unchanged. The splice costs one
 * local socket hop per connection.
 */
import { randomInt } from "node:crypto";
import { unlinkSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { PodplugError } from "../errors.ts";
import type { Logger } from "./logger.ts";
import { checkSocketPath } from "./socket.ts";
import { type YamuxRole, YamuxSession, type YamuxStream } from "./yamux.ts";

/** Private splice sockets are named `mux<digits>`, never `plugin…` (sidecar hosts look for those). */
export const MUX_SOCKET_PREFIX = "mux";

/** A local socket whose connections each ride a new stream to the peer. */
export interface Bridge {
  readonly path: string;
  close(): void;
}

/** A multiplexed connection's main channel: dial `path`; the multiplexer carries it. */
export interface MainBridge {
  readonly mux: Multiplexer;
  readonly path: string;
}

/** Pipes two connections into each other; either one ending or failing ends both. */
export function splice(a: Duplex, b: Duplex): void {
  let done = false;
  const end = (): void => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
  };
  a.pipe(b);
  b.pipe(a);
  for (const s of [a, b]) {
    s.on("error", end);
    s.on("close", end);
  }
}

/**
 * One multiplexed plugin connection, seen from either side: opens streams,
 * routes the streams the peer opens (to the id that was knocked for, else to
 * the default socket), and owns the splice sockets it made.
 */
export class Multiplexer {
  private yamux: YamuxSession | undefined;
  private readonly socketDir: string;
  private readonly logger: Logger;
  /** Where streams nobody knocked for go (the plugin's main server); none on the host side. */
  readonly defaultTarget: string | undefined;
  /** Sockets the next streams the peer opens go to, in knock order. */
  private readonly knocked: string[] = [];
  private readonly bridges = new Set<Bridge>();

  /**
   * @param defaultTarget where streams that nobody knocked for go: the plugin's main server (plugin side); none on the host side, which refuses them.
   */
  private readonly role: YamuxRole;
  private closed = false;

  constructor(role: YamuxRole, opts: { socketDir: string; logger: Logger; defaultTarget?: string }) {
    this.role = role;
    this.socketDir = opts.socketDir;
    this.logger = opts.logger;
    this.defaultTarget = opts.defaultTarget;
  }

  /** Runs yamux on `conn` (the host's one connection to the plugin socket). */
  attach(conn: Duplex): YamuxSession {
    if (this.yamux || this.closed)
      throw new PodplugError("MULTIPLEX_PROTOCOL", "yamux: this multiplexer already has its connection.");
    const session = new YamuxSession(conn, this.role, { onStream: (s) => this.route(s) });
    this.yamux = session;
    session.on("close", (err) => {
      if (err)
        this.logger.warn("multiplexed connection failed", { code: (err as PodplugError).code, error: err.message });
      this.closeBridges();
    });
    return session;
  }

  /**
   * Rejects when the session ends before `work` settles: a peer that breaks
   * yamux fails a start at once (MULTIPLEX_PROTOCOL), not at its timeout.
   */
  race<T>(work: Promise<T>): Promise<T> {
    const session = this.yamux;
    if (!session) return work;
    let onClose: ((err: Error | undefined) => void) | undefined;
    const ended = new Promise<never>((_, reject) => {
      onClose = (err) =>
        reject(
          err ??
            new PodplugError(
              "MULTIPLEX_PROTOCOL",
              "yamux: the plugin closed the multiplexed connection while it was starting.",
            ),
        );
      if (session.isClosed) onClose(session.closeError());
      else session.once("close", onClose);
    });
    return Promise.race([work, ended]).finally(() => session.off("close", onClose!));
  }

  /** The yamux session, once attached. */
  get session(): YamuxSession | undefined {
    return this.yamux;
  }

  /** The next stream the peer opens goes to the socket at `target` (a knock was acked). */
  expect(target: string): void {
    this.knocked.push(target);
  }

  /** Opens a stream to the peer. */
  open(): YamuxStream {
    if (!this.yamux)
      throw new PodplugError("MULTIPLEX_PROTOCOL", "yamux: the host has not connected yet; no stream can be opened.");
    return this.yamux.open();
  }

  /** A local socket whose every connection gets a stream from `open` (which may knock first). */
  async bridge(open: () => Promise<Duplex>): Promise<Bridge> {
    const path = newMuxSocketPath(this.socketDir);
    const server = net.createServer((local) => {
      local.on("error", () => undefined);
      open().then(
        (remote) => splice(local, remote),
        (err: Error) => {
          this.logger.debug("multiplexed dial failed", { error: err.message });
          local.destroy();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const bridge: Bridge = {
      path,
      close: () => {
        if (!this.bridges.delete(bridge)) return;
        server.close();
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      },
    };
    this.bridges.add(bridge);
    return bridge;
  }

  /** Ends the session and removes every splice socket. */
  close(): void {
    this.closed = true;
    this.yamux?.close();
    this.closeBridges();
  }

  private closeBridges(): void {
    for (const b of [...this.bridges]) b.close();
  }

  /** Streams the plugin opened without a knock, all refused. */
  private unknocked = 0;

  private route(stream: YamuxStream): void {
    const target = this.knocked.shift() ?? this.defaultTarget;
    if (!target) {
      // go-plugin's host side accepts a plugin's stream only after a knock for it. Logged once per
      // 1000 such streams: a plugin opening them in a loop must not flood the host's log.
      if (this.unknocked++ % 1000 === 0)
        this.logger.warn("plugin opened a multiplexed stream without a knock; refused", {
          stream: stream.id,
          refused: this.unknocked,
        });
      stream.destroy();
      return;
    }
    const local = net.connect(target);
    splice(stream, local);
  }
}

/** A fresh splice socket path in `dir`. */
export function newMuxSocketPath(dir: string): string {
  const path = join(dir, `${MUX_SOCKET_PREFIX}${randomInt(1e9, 1e10 - 1)}`);
  checkSocketPath(path);
  return path;
}

/** Connects to a plugin's socket for a multiplexed session (the host is the yamux client). */
export function dialMultiplexed(
  address: string,
  opts: { socketDir: string; logger: Logger; timeoutMs: number },
): Promise<Multiplexer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(address);
    const t = setTimeout(() => {
      sock.destroy();
      reject(
        new PodplugError(
          "UNAVAILABLE",
          `could not connect to plugin at ${address} within ${opts.timeoutMs} ms for a multiplexed session.`,
        ),
      );
    }, opts.timeoutMs);
    sock.once("error", (err) => {
      clearTimeout(t);
      reject(
        new PodplugError(
          "UNAVAILABLE",
          `could not connect to plugin at ${address}: ${err.message}`,
          { address },
          { cause: err },
        ),
      );
    });
    sock.once("connect", () => {
      clearTimeout(t);
      sock.removeAllListeners("error");
      const m = new Multiplexer("client", { socketDir: opts.socketDir, logger: opts.logger });
      m.attach(sock);
      resolve(m);
    });
  });
}

/**
 * The plugin's socket in multiplex mode: the first connection (the host's)
 * becomes the yamux session, as go-plugin's server muxer; later connections
 * are refused, since a multiplexing host never opens a second one.
 */
export function listenMultiplexed(address: string, mux: Multiplexer, logger: Logger): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.on("error", () => undefined);
    if (mux.session) {
      logger.warn("a second connection to a multiplexed plugin socket; refused", { address });
      sock.destroy();
      return;
    }
    mux.attach(sock);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new PodplugError("SOCKET_IN_USE", `cannot listen on ${address}: ${err.message}`, { address }, { cause: err }),
      ),
    );
    server.listen(address, () => {
      server.removeAllListeners("error");
      server.on("error", () => undefined);
      resolve(server);
    });
  });
}
