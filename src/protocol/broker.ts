/**
 * go-plugin's gRPC broker, the same on both sides. The host opens one
 * `GRPCBroker/StartStream`. Default mode: each side announces a service it
 * serves with `ConnInfo{service_id, network, address}` on that stream, and
 * the other side dials it by id. Unclaimed announcements are dropped after
 * 5 s; a dial waits 5 s for its announcement. Multiplex mode
 * (PLUGIN_MULTIPLEX_GRPC, multiplex.ts): nothing is announced; the dialer
 * knocks `ConnInfo{service_id, knock:{knock}}`, the server acks
 * `{knock, ack, error}` and the dialer opens a yamux stream for the id.
 */

import { unlinkSync } from "node:fs";
import type { Duplex } from "node:stream";
import type * as grpc from "@grpc/grpc-js";
import type { Attributes } from "@opentelemetry/api";
import { PodplugError } from "../errors.ts";
import type { ConnInfo } from "../gen/plugin/grpc_broker.ts";
import type { Tracing } from "../tracing/tracer.ts";
import type { Logger } from "./logger.ts";
import { type Multiplexer, newMuxSocketPath } from "./multiplex.ts";
import { checkSocketPath, newSocketPath } from "./socket.ts";
import { bindUnix, dialUnix, newServer, type ServiceRegistrar, type TransportSecurity } from "./transport.ts";

/** go-plugin's broker timeouts: wait for an announcement, keep an unclaimed one. */
export const BROKER_TIMEOUT_MS = 5000;

const MAX_ID = 0xffff_ffff;
/**
 * Announcements (and, multiplex mode, knocks) the peer may leave waiting for
 * this side to dial (or serve) them: each is kept 5 s, so without a bound a
 * peer sending ids in a loop grows the broker without end. A real plugin has
 * a handful in flight.
 */
export const BROKER_MAX_PENDING = 1024;

/** The bidirectional ConnInfo stream, as grpc-js gives it on either side. */
export interface ConnInfoStream {
  write(msg: ConnInfo): boolean;
  end(): void;
  on(event: "data", listener: (msg: ConnInfo) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** A service this side serves through the broker. */
export interface BrokerServer {
  readonly id: number;
  /** The socket the service listens on. */
  readonly address: string;
  /** Stops the service and removes its socket. */
  close(): void;
}

interface Announcement {
  info: ConnInfo;
  timer: NodeJS.Timeout;
}

interface Waiter {
  resolve: (info: ConnInfo) => void;
  reject: (err: Error) => void;
}

/** Options of a {@link GRPCBroker}. */
export interface BrokerOptions {
  /** Folder for this side's broker sockets (the peer must be able to reach it). */
  socketDir: string;
  security: TransportSecurity;
  logger: Logger;
  /** Called on each socket this side listens on, before it is announced (the plugin's group and mode). */
  share?: (path: string) => void;
  /** Overrides {@link BROKER_TIMEOUT_MS} (tests). */
  timeoutMs?: number;
  /** The connection's yamux session when the host asked for PLUGIN_MULTIPLEX_GRPC. */
  mux?: Multiplexer;
  /** With tracing on: broker calls carry trace context and get spans (src/tracing). */
  tracing?: { tracing: Tracing; attributes: Attributes };
}

/** What plugin code sees of a broker (go-plugin's *GRPCBroker methods). */
export interface Broker {
  /** The next unused id for {@link acceptAndServe}. */
  nextId(): number;
  /** Serves services under `id` and announces them to the peer. */
  acceptAndServe(id: number, register: (server: ServiceRegistrar) => void): Promise<BrokerServer>;
  /** Waits for the peer's announcement of `id` and opens a channel to it. */
  dial(id: number, timeoutMs?: number): Promise<grpc.ChannelInterface>;
  /** {@link dial}, wrapped in a generated client class. */
  dialClient<C>(
    id: number,
    ctor: new (address: string, creds: grpc.ChannelCredentials, options: grpc.ClientOptions) => C,
  ): Promise<C>;
}

/** One connection's broker. Ids are uint32 from 1; each side counts its own. */
export class GRPCBroker implements Broker {
  private stream: ConnInfoStream | undefined;
  private readonly outbox: ConnInfo[] = [];
  private id = 0;
  private closed = false;
  private readonly announced = new Map<number, Announcement>();
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly claimed = new Set<number>();
  private readonly served = new Map<number, BrokerServer>();
  /** Multiplex mode: knocks for ids not served yet, kept as long as an announcement is. */
  private readonly earlyKnocks = new Map<number, NodeJS.Timeout>();
  /** Multiplex mode: our knocks waiting for the peer's ack. */
  private readonly acks = new Map<number, Waiter>();
  /** Multiplex mode: one knock at a time, as go-plugin's dialMutex (the ack routes the next stream). */
  private knocking: Promise<unknown> = Promise.resolve();
  /** Announcements and knocks dropped past BROKER_MAX_PENDING since the last warning. */
  private dropped = 0;
  private readonly timeoutMs: number;
  private readonly opts: BrokerOptions;

  constructor(opts: BrokerOptions) {
    this.opts = opts;
    this.timeoutMs = opts.timeoutMs ?? BROKER_TIMEOUT_MS;
  }

  /** Binds the broker to the StartStream call (plugin side: when it arrives; host side: once opened). */
  attach(stream: ConnInfoStream): void {
    if (this.closed) {
      stream.end();
      return;
    }
    this.stream = stream;
    stream.on("data", (msg) => this.receive(msg));
    const gone = (): void => {
      if (this.stream === stream) this.stream = undefined;
    };
    stream.on("end", gone);
    stream.on("close", gone);
    stream.on("error", (err) => {
      gone();
      this.opts.logger.debug("broker stream ended", { error: err.message });
    });
    for (const m of this.outbox.splice(0)) stream.write(m);
  }

  /** The next unused id for {@link acceptAndServe} (go-plugin's NextId). */
  nextId(): number {
    this.id = this.id >= MAX_ID ? 1 : this.id + 1;
    return this.id;
  }

  /**
   * Serves a gRPC service under `id` on a new socket and announces it to the
   * peer. `register` adds the services to the server (as go-plugin's serverFunc).
   */
  async acceptAndServe(id: number, register: (server: ServiceRegistrar) => void): Promise<BrokerServer> {
    this.checkOpen();
    checkId(id);
    if (this.served.has(id)) {
      throw new PodplugError(
        "BROKER_ID_IN_USE",
        `broker id ${id} is already being served by this side; take a fresh one from nextId().`,
        { id },
      );
    }
    const server = newServer(64 * 1024 * 1024);
    const t = this.opts.tracing;
    register(t ? t.tracing.registrar(server, t.attributes) : server);
    const mux = this.opts.mux;
    const address = mux ? newMuxSocketPath(this.opts.socketDir) : newSocketPath(this.opts.socketDir);
    await bindUnix(server, address, this.opts.security);
    this.opts.share?.(address);
    const handle: BrokerServer = {
      id,
      address,
      close: () => {
        if (this.served.get(id) !== handle) return;
        this.served.delete(id);
        server.forceShutdown();
        try {
          unlinkSync(address);
        } catch {
          // already gone
        }
      },
    };
    this.served.set(id, handle);
    if (mux) {
      // Nothing to announce: the peer knocks. One that knocked before we served the id is let in now.
      const early = this.earlyKnocks.get(id);
      if (early) {
        clearTimeout(early);
        this.earlyKnocks.delete(id);
        this.admit(id, address);
      }
    } else {
      this.send({ serviceId: id, network: "unix", address, knock: undefined });
    }
    return handle;
  }

  /** Waits for the peer's announcement of `id` and opens a channel to it. */
  async dial(id: number, timeoutMs = this.timeoutMs): Promise<grpc.ChannelInterface> {
    this.checkOpen();
    checkId(id);
    const mux = this.opts.mux;
    if (mux) {
      // The first stream is opened now, so a refused or unanswered knock fails this call with its code.
      let first: Duplex | undefined = await this.knock(id, timeoutMs, mux);
      const bridge = await mux.bridge(async () => {
        const s = first;
        first = undefined;
        return s ?? this.knock(id, timeoutMs, mux);
      });
      const t = this.opts.tracing;
      const channel = closingWith(dialUnix(bridge.path, this.opts.security), () => {
        first?.destroy();
        bridge.close();
      });
      return t ? t.tracing.channel(channel, t.attributes) : channel;
    }
    const info = await this.waitFor(id, timeoutMs);
    if (info.network !== "unix") {
      throw new PodplugError(
        "BROKER_ID_INVALID",
        `broker id ${id} announced network ${JSON.stringify(info.network)}; podplug dials unix sockets only.`,
        { id },
      );
    }
    checkSocketPath(info.address);
    const channel = dialUnix(info.address, this.opts.security);
    const t = this.opts.tracing;
    return t ? t.tracing.channel(channel, t.attributes) : channel;
  }

  /** {@link dial}, then wraps the channel in a generated client class. */
  async dialClient<C>(
    id: number,
    ctor: new (address: string, creds: grpc.ChannelCredentials, options: grpc.ClientOptions) => C,
  ): Promise<C> {
    const channel = await this.dial(id);
    return new ctor("unused", this.opts.security.channel, { channelOverride: channel });
  }

  /** Stops every service this side serves and fails pending dials. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.served.values()]) s.close();
    for (const a of this.announced.values()) clearTimeout(a.timer);
    this.announced.clear();
    for (const [id, ws] of this.waiters) {
      for (const w of ws)
        w.reject(
          new PodplugError("BROKER_CLOSED", `broker closed while waiting for id ${id}; the plugin connection ended.`, {
            id,
          }),
        );
    }
    this.waiters.clear();
    for (const t of this.earlyKnocks.values()) clearTimeout(t);
    this.earlyKnocks.clear();
    for (const [id, w] of this.acks)
      w.reject(new PodplugError("BROKER_CLOSED", `broker closed while knocking for id ${id}.`, { id }));
    this.acks.clear();
    this.stream?.end();
    this.stream = undefined;
  }

  private checkOpen(): void {
    if (this.closed)
      throw new PodplugError("BROKER_CLOSED", "broker is closed: the plugin connection ended. Dispense a new client.");
  }

  private send(msg: ConnInfo): void {
    if (this.stream) this.stream.write(msg);
    else this.outbox.push(msg);
  }

  /** Multiplex mode: knocks for `id`, waits for the ack, opens the stream the peer will route to it. */
  private knock(id: number, timeoutMs: number, mux: Multiplexer): Promise<Duplex> {
    const run = this.knocking.then(
      () =>
        new Promise<Duplex>((resolve, reject) => {
          if (this.closed) return reject(new PodplugError("BROKER_CLOSED", "broker is closed.", { id }));
          const timer = setTimeout(() => {
            this.acks.delete(id);
            reject(
              new PodplugError(
                "BROKER_TIMEOUT",
                `timeout waiting for multiplexing knock handshake on id ${id} after ${timeoutMs} ms: the peer does not serve that id.`,
                { id },
              ),
            );
          }, timeoutMs);
          this.acks.set(id, {
            resolve: (info) => {
              clearTimeout(timer);
              const error = info.knock?.error ?? "";
              if (error !== "") {
                reject(
                  new PodplugError(
                    "BROKER_KNOCK_REFUSED",
                    `failed to knock for id ${id}: the peer answered ${JSON.stringify(error)}.`,
                    {
                      id,
                      error,
                    },
                  ),
                );
                return;
              }
              try {
                resolve(mux.open());
              } catch (err) {
                reject(err);
              }
            },
            reject: (err) => {
              clearTimeout(timer);
              reject(err);
            },
          });
          this.send({ serviceId: id, network: "", address: "", knock: { knock: true, ack: false, error: "" } });
        }),
    );
    this.knocking = run.catch(() => undefined);
    return run;
  }

  /** Multiplex mode: the next stream the peer opens goes to `address`; tell the peer to open it. */
  private admit(id: number, address: string): void {
    this.opts.mux!.expect(address);
    this.send({ serviceId: id, network: "", address: "", knock: { knock: true, ack: true, error: "" } });
  }

  private receive(msg: ConnInfo): void {
    const mux = this.opts.mux;
    if (mux && msg.knock?.knock) {
      const id = msg.serviceId;
      if (msg.knock.ack) {
        const w = this.acks.get(id);
        this.acks.delete(id);
        if (w) w.resolve(msg);
        else this.opts.logger.debug("knock ack for an id this side did not knock for; ignored", { id });
        return;
      }
      const served = this.served.get(id);
      if (served) return this.admit(id, served.address);
      // go-plugin keeps a knock until the id is served; the dialer gives up after its 5 s.
      const old = this.earlyKnocks.get(id);
      if (old) clearTimeout(old);
      else if (this.overPending(this.earlyKnocks.size, "knocks")) return;
      const t = setTimeout(() => this.earlyKnocks.delete(id), this.timeoutMs);
      t.unref();
      this.earlyKnocks.set(id, t);
      return;
    }
    if (msg.knock?.knock && !msg.knock.ack) {
      // A peer in multiplex mode knocks instead of dialing; say no clearly.
      this.send({
        serviceId: msg.serviceId,
        network: "",
        address: "",
        knock: {
          knock: true,
          ack: false,
          error: "podplug: gRPC broker multiplexing (PLUGIN_MULTIPLEX_GRPC) is not supported",
        },
      });
      return;
    }
    const id = msg.serviceId;
    const ws = this.waiters.get(id);
    if (ws && ws.length > 0) {
      const w = ws.shift()!;
      if (ws.length === 0) this.waiters.delete(id);
      this.claimed.add(id);
      w.resolve(msg);
      return;
    }
    const old = this.announced.get(id);
    if (old) clearTimeout(old.timer);
    else if (this.overPending(this.announced.size, "announcements")) return;
    this.claimed.delete(id);
    const timer = setTimeout(() => {
      if (this.announced.get(id)?.timer === timer) this.announced.delete(id);
    }, this.timeoutMs);
    timer.unref();
    this.announced.set(id, { info: msg, timer });
  }

  /**
   * True (the message is dropped) when `size` pending entries already reach
   * BROKER_MAX_PENDING; the first drop, and every 1000th, logs BROKER_FLOOD.
   */
  private overPending(size: number, what: string): boolean {
    if (size < BROKER_MAX_PENDING) return false;
    if (this.dropped++ % 1000 === 0)
      this.opts.logger.warn(
        `the peer left more than ${BROKER_MAX_PENDING} broker ${what} unclaimed; dropping more until some are used or expire (${this.timeoutMs} ms)`,
        { code: "BROKER_FLOOD", dropped: this.dropped, pending: size },
      );
    return true;
  }

  private waitFor(id: number, timeoutMs: number): Promise<ConnInfo> {
    const a = this.announced.get(id);
    if (a) {
      clearTimeout(a.timer);
      this.announced.delete(id);
      this.claimed.add(id);
      return Promise.resolve(a.info);
    }
    if (this.claimed.has(id)) {
      return Promise.reject(
        new PodplugError(
          "BROKER_ID_IN_USE",
          `broker id ${id} was already dialed; the peer must serve it again (a new AcceptAndServe) before it can be dialed again.`,
          { id },
        ),
      );
    }
    return new Promise<ConnInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        const ws = this.waiters.get(id);
        const i = ws?.indexOf(waiter) ?? -1;
        if (ws && i >= 0) ws.splice(i, 1);
        if (ws?.length === 0) this.waiters.delete(id);
        reject(
          new PodplugError(
            "BROKER_TIMEOUT",
            `timeout waiting for connection info for broker id ${id} after ${timeoutMs} ms: the peer never served that id (or served it over ${this.timeoutMs} ms ago).`,
            { id },
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (info) => {
          clearTimeout(timer);
          resolve(info);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const ws = this.waiters.get(id) ?? [];
      ws.push(waiter);
      this.waiters.set(id, ws);
    });
  }
}

/** `channel`, whose close() also runs `onClose` (the splice socket of a multiplexed dial). */
function closingWith(channel: grpc.ChannelInterface, onClose: () => void): grpc.ChannelInterface {
  const close = channel.close.bind(channel);
  channel.close = () => {
    onClose();
    close();
  };
  return channel;
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_ID) {
    throw new PodplugError(
      "BROKER_ID_INVALID",
      `broker id ${String(id)} is not a uint32 above 0; ids come from nextId().`,
      { id },
    );
  }
}
