/**
 * One live gRPC connection to one plugin process: the channel, the broker
 * stream (opened at once and kept open), the stdio stream (drained at once so
 * a Go plugin never blocks on a full pipe), and the controller.
 */

import type { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import type { Attributes } from "@opentelemetry/api";
import type { Logger as PinoLogger } from "pino";
import { PLUGIN_HEALTH_SERVICE } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { type HealthCheckResponse, HealthClient } from "../gen/grpc/health/v1/health.ts";
import { GRPCBrokerClient } from "../gen/plugin/grpc_broker.ts";
import { GRPCControllerClient } from "../gen/plugin/grpc_controller.ts";
import { GRPCStdioClient, type StdioData, StdioData_Channel } from "../gen/plugin/grpc_stdio.ts";
import { LineSplitter } from "../process/lines.ts";
import { logOutputLine } from "../process/output.ts";
import { GRPCBroker } from "../protocol/broker.ts";
import type { Handshake } from "../protocol/handshake.ts";
import { fromPino } from "../protocol/logger.ts";
import type { MainBridge, Multiplexer } from "../protocol/multiplex.ts";
import type { ClientConstructor, PluginConnection } from "../protocol/plugin.ts";
import { dialUnix, type TransportSecurity } from "../protocol/transport.ts";
import type { Tracing } from "../tracing/tracer.ts";
import { directClient } from "../transport/unary-client.ts";

/** Where a plugin's raw stdio goes besides the log (go-plugin's SyncStdout/SyncStderr). */
export interface StdioSinks {
  stdout?: Writable;
  stderr?: Writable;
}

/** A connection to a plugin; closed for good once `close()` is called. */
export class Connection implements PluginConnection {
  readonly channel: grpc.ChannelInterface;
  readonly broker: GRPCBroker;
  readonly handshake: Handshake;
  private readonly security: TransportSecurity;
  private readonly health: InstanceType<typeof HealthClient>;
  private readonly controller: InstanceType<typeof GRPCControllerClient>;
  private readonly calls: { cancel(): void }[] = [];
  private brokerCall: { cancel(): void } | undefined;
  private closed = false;
  private readonly mux: Multiplexer | undefined;

  /**
   * `share` gives each broker socket this side serves the folder's group (attach mode: the plugin may run as another uid).
   * `mux`: the connection is multiplexed (PLUGIN_MULTIPLEX_GRPC); the channel dials its splice socket.
   */
  constructor(
    handshake: Handshake,
    security: TransportSecurity,
    brokerDir: string,
    log: PinoLogger,
    share?: (path: string) => void,
    tracing?: { tracing: Tracing; attributes: Attributes },
    mux?: MainBridge,
  ) {
    this.handshake = handshake;
    this.security = security;
    this.mux = mux?.mux;
    // A plugin that breaks HTTP/2 or a limit loses its connection; the log says which plugin and why.
    this.channel = dialUnix(mux?.path ?? handshake.address, security, (err) =>
      log.error(
        { code: err.code, h2Code: err.details.h2Code, reason: err.message },
        "plugin connection closed: the plugin broke HTTP/2 or a transport limit",
      ),
    );
    this.broker = new GRPCBroker({
      socketDir: brokerDir,
      security,
      logger: fromPino(log.child({ component: "broker" })),
      ...(share ? { share } : {}),
      ...(mux ? { mux: mux.mux } : {}),
      ...(tracing ? { tracing } : {}),
    });
    this.health = this.client(HealthClient);
    this.controller = this.client(GRPCControllerClient);
  }

  client<C>(ctor: ClientConstructor<C>): C {
    return directClient(ctor, this.security.channel, this.channel);
  }

  /** Waits until the socket accepts gRPC (TLS included), then opens broker and stdio streams. */
  async open(deadlineMs: number, log: PinoLogger, sinks: StdioSinks): Promise<void> {
    const end = Date.now() + deadlineMs;
    // A plugin just started can be starved of CPU (a cold start on a loaded node) for longer than the
    // keepalive's timeout. While it opens, the start timeout judges it: a keepalive drop is tried again.
    for (;;) {
      const ready = this.check(Math.max(1, end - Date.now()), true);
      try {
        await (this.mux ? this.mux.race(ready) : ready);
        break;
      } catch (err) {
        if (!keepaliveDrop(err) || Date.now() >= end || this.closed) throw err;
        log.debug({ reason: (err as Error).message }, "plugin slow to answer its first health check; trying again");
      }
    }
    const brokerClient = this.client(GRPCBrokerClient);
    const call = brokerClient.startStream();
    call.on("error", (err: grpc.ServiceError) => {
      if (!this.closed) log.debug({ code: err.code }, "broker stream ended");
    });
    this.brokerCall = call;
    this.broker.attach(call);
    this.drainStdio(log, sinks);
  }

  /** Health Check{service:"plugin"} (go-plugin's Ping). Resolves SERVING, throws otherwise. */
  async check(timeoutMs: number, waitForReady = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (waitForReady) {
      await new Promise<void>((resolve, reject) =>
        this.health.waitForReady(deadline, (err) =>
          err
            ? reject(
                new PodplugError(
                  "UNAVAILABLE",
                  `could not connect to plugin at ${this.handshake.address} within ${Math.round(timeoutMs)} ms: ${err.message}` +
                    // A refused TLS handshake looks like this too: say what to check.
                    (this.security.pems
                      ? ". The connection is mutual TLS: check that the plugin trusts this host's certificate and that the CA given for the plugin signed its certificate."
                      : ""),
                  {},
                  { cause: err },
                ),
              )
            : resolve(),
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.health.check(
        { service: PLUGIN_HEALTH_SERVICE },
        new grpc.Metadata(),
        { deadline },
        (err: grpc.ServiceError | null, res?: HealthCheckResponse) => {
          if (err)
            reject(
              new PodplugError(
                "UNAVAILABLE",
                `plugin at ${this.handshake.address} did not answer its health check: ${err.details || err.message}`,
                { grpcCode: err.code },
                { cause: err },
              ),
            );
          else if (res?.status !== 1)
            reject(
              new PodplugError(
                "UNAVAILABLE",
                `plugin at ${this.handshake.address} reports ${String(res?.status)} (not SERVING).`,
              ),
            );
          else resolve();
        },
      );
    });
  }

  /** Opens a health Watch; `onStatus` gets each status, `onEnd` the end of the stream. */
  watchHealth(onStatus: (serving: boolean) => void, onEnd: (err?: Error) => void): void {
    const call = this.health.watch({ service: PLUGIN_HEALTH_SERVICE });
    call.on("data", (r: HealthCheckResponse) => onStatus(r.status === 1));
    call.on("error", (err: Error) => onEnd(err));
    call.on("end", () => onEnd());
    this.calls.push(call);
  }

  /** Asks the plugin to shut down; resolves when it answered, failed or `timeoutMs` passed. */
  shutdown(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.controller.shutdown({}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, () => resolve());
    });
  }

  private drainStdio(log: PinoLogger, sinks: StdioSinks): void {
    const stdio = this.client(GRPCStdioClient);
    const call = stdio.streamStdio({});
    this.calls.push(call);
    const state = { inPanic: false };
    const out = new LineSplitter((l) => logOutputLine(log, l, "stdout", state, "info", "grpc-stdio"));
    const err = new LineSplitter((l) => logOutputLine(log, l, "stderr", state, "info", "grpc-stdio"));
    call.on("data", (d: StdioData) => {
      if (d.channel === StdioData_Channel.STDOUT) {
        sinks.stdout?.write(d.data);
        out.push(d.data);
      } else if (d.channel === StdioData_Channel.STDERR) {
        sinks.stderr?.write(d.data);
        err.push(d.data);
      }
    });
    call.on("error", (e: grpc.ServiceError) => {
      // A plugin that ends (Shutdown, kill) ends the stream too: only a missing service deserves a warning.
      if (e.code === grpc.status.UNIMPLEMENTED)
        log.warn({ code: e.code }, "plugin does not stream stdio; its stdout/stderr will not be forwarded");
      else if (!this.closed) log.debug({ code: e.code }, "stdio stream ended");
    });
    call.on("end", () => {
      out.flush();
      err.flush();
    });
  }

  /** Closes streams, broker and channel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.calls) c.cancel();
    this.brokerCall?.cancel();
    this.broker.close();
    this.channel.close();
    this.mux?.close();
  }
}

/** True when `err` is a call failed by the channel's own keepalive verdict (TRANSPORT_KEEPALIVE_TIMEOUT in its details). */
function keepaliveDrop(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown; details?: unknown } }).cause;
  return cause?.code === grpc.status.UNAVAILABLE && String(cause.details).includes("TRANSPORT_KEEPALIVE_TIMEOUT");
}
