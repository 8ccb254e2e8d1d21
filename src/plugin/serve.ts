/**
 * The plugin SDK's entry point: `serve()` does what go-plugin's `plugin.Serve`
 * does — cookie check, version negotiation, a Unix-socket gRPC server with
 * health, broker, controller and stdio, the handshake line on stdout — plus
 * podplug's sidecar mode, where the line is also written to a file for a host
 * in another container.
 */

import { writeSync } from "node:fs";
import { flushCompileCache, getCompileCacheDir } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PLUGIN_ENV, SIDECAR_ENV, SIDECAR_SOCKET_NAME } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { HealthService } from "../gen/grpc/health/v1/health.ts";
import { type GRPCBrokerServer, GRPCBrokerService } from "../gen/plugin/grpc_broker.ts";
import { GRPCControllerService } from "../gen/plugin/grpc_controller.ts";
import { GRPCStdioService } from "../gen/plugin/grpc_stdio.ts";
import { GRPCBroker } from "../protocol/broker.ts";
import { controllerImplementation } from "../protocol/controller.ts";
import {
  COOKIE_MISMATCH_MESSAGE,
  type HandshakeConfig,
  negotiateVersion,
  readPluginEnv,
  validateHandshakeConfig,
} from "../protocol/env.ts";
import { CORE_PROTOCOL_VERSION, formatHandshake, type Handshake } from "../protocol/handshake.ts";
import type { HclogLevel } from "../protocol/hclog.ts";
import { PluginHealth } from "../protocol/health.ts";
import { hclogLogger, type Logger } from "../protocol/logger.ts";
import { certToHandshakeField, checkCertPem } from "../protocol/mtls.ts";
import { listenMultiplexed, Multiplexer, newMuxSocketPath } from "../protocol/multiplex.ts";
import type { PluginSet } from "../protocol/plugin.ts";
import { removeHandshakeFile, writeHandshakeFile } from "../protocol/sidecar.ts";
import { checkSocketPath, clearStaleSocket, newSocketPath } from "../protocol/socket.ts";
import { prepareSocketFolder, shareSocket } from "../protocol/socket-access.ts";
import { StdioCapture } from "../protocol/stdio.ts";
import {
  bindUnix,
  insecureTransport,
  mtlsTransport,
  newServer,
  type TransportSecurity,
} from "../protocol/transport.ts";
import { podplugTracing } from "../tracing/tracer.ts";
import { intercepted, type ServerInterceptor } from "./interceptors.ts";
import { writeTerminationMessage } from "./termination-log.ts";

/** What `serve()` needs: go-plugin's ServeConfig in TypeScript. */
export interface ServeConfig {
  /** Must match the host's cookie; `protocolVersion` is the version of `plugins`. */
  handshake: HandshakeConfig;
  /** The plugins served at `handshake.protocolVersion`. */
  plugins?: PluginSet;
  /** Plugins per protocol version; the highest the host also offers wins. */
  versionedPlugins?: Record<number, PluginSet>;
  /** hclog level of the SDK's logger (default `info`; `PODPLUG_LOG_LEVEL` overrides). */
  logLevel?: HclogLevel;
  /** How long Shutdown/SIGTERM waits for in-flight calls before forcing (default 2000 ms). */
  gracefulShutdownMs?: number;
  /** Largest message the plugin accepts (default 4 MiB, grpc's default, as a Go plugin). */
  maxReceiveMessageBytes?: number;
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * go-plugin's `GRPCServer` factory, for what Go plugins use it for: run
   * before every call of the plugin's own services (auth, logging, metrics).
   */
  interceptors?: ServerInterceptor[];
  /**
   * go-plugin's TLSProvider: explicit mutual TLS when the host does not ask
   * for AutoMTLS (which wins when it does). `caPem` is the CA the host's
   * client certificate must chain to.
   */
  tls?: () => TlsMaterial | Promise<TlsMaterial>;
}

/** A certificate, its key, and the CA the peer's certificate must chain to (PEM). */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** A running plugin server. */
export interface ServedPlugin {
  /** The negotiated application protocol version. */
  readonly version: number;
  /** The handshake line as announced. */
  readonly handshake: Handshake;
  /** hclog-JSON logger on the real stderr (a Go host shows these in its log). */
  readonly logger: Logger;
  readonly broker: GRPCBroker;
  readonly health: PluginHealth;
  /** Stops serving (graceful up to the deadline), cleans up sockets, resolves when done. */
  stop(): Promise<void>;
  /** Resolves when the server has stopped (Shutdown, SIGTERM or stop()). */
  readonly done: Promise<void>;
}

/**
 * Serves plugins to a go-plugin (or podplug) host. Exits the process with
 * status 1 and go-plugin's message when the magic cookie is wrong, and in
 * sidecar mode when it serves none of the host's PLUGIN_PROTOCOL_VERSIONS
 * (code HANDSHAKE_APP_VERSION in the logged line). Those refusals and every
 * coded error it rejects with also go to the container's termination message
 * (`<CODE>: <sentence>`, see termination-log.ts), where the operator reads
 * them into the Plugin's status. After a
 * controller Shutdown or SIGTERM the process exits 0 once the server stops,
 * unless `stop()` was called directly.
 */
export async function serve(config: ServeConfig): Promise<ServedPlugin> {
  const env = config.env ?? process.env;
  try {
    return await start(config, env);
  } catch (err) {
    // A coded start error is the container's termination message (the Plugin's status shows it).
    if (err instanceof PodplugError) writeTerminationMessage(err.code, err.message, env);
    throw err;
  }
}

async function start(config: ServeConfig, env: NodeJS.ProcessEnv): Promise<ServedPlugin> {
  validateHandshakeConfig(config.handshake, "serve()");
  if (env[config.handshake.magicCookieKey] !== config.handshake.magicCookieValue) {
    writeSync(2, COOKIE_MISMATCH_MESSAGE);
    writeTerminationMessage(
      "HANDSHAKE_COOKIE",
      `${config.handshake.magicCookieKey} is not this plugin's magic cookie: a plugin is started by its host, or in a pod by the operator with the Plugin's spec.handshake; make its magicCookieKey and magicCookieValue the plugin's.`,
      env,
    );
    process.exit(1);
  }
  const penv = readPluginEnv(env);
  const versioned: Record<number, PluginSet> = { ...config.versionedPlugins };
  if (config.plugins) versioned[config.handshake.protocolVersion] = config.plugins;
  const ours = Object.keys(versioned).map(Number);
  const version = negotiateVersion(ours, penv.hostVersions);
  const plugins = versioned[version] ?? {};
  const sidecar = penv.handshakeFile !== undefined;

  const level = (env[SIDECAR_ENV.logLevel] as HclogLevel | undefined) ?? config.logLevel ?? "info";
  const base = penv.pluginName ? { "@module": penv.pluginName } : {};
  if (sidecar && penv.hostVersions.length > 0 && !penv.hostVersions.includes(version)) {
    // Started by the host, go-plugin answers with its lowest version and the host refuses it.
    // In sidecar mode no host reads this line before it serves calls, so the plugin refuses
    // itself, with the host's go-plugin wording, and never announces a version it was not offered.
    refuseVersions(version, ours, penv.hostVersions, base, env);
  }
  // Through the stream, not writeSync(2): stderr is often a non-blocking pipe,
  // and a full pipe must queue the line, never throw EAGAIN into a handler.
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const logger = hclogLogger((line) => void stderrWrite(line), level, base);
  for (const bad of penv.invalidVersions)
    logger.warn("host sent an invalid plugin version in PLUGIN_PROTOCOL_VERSIONS; ignored", { version: bad });

  const socketDir = penv.socketDir ?? (penv.handshakeFile ? dirname(penv.handshakeFile) : tmpdir());
  let address: string;
  // Sidecar mode: the host runs in another container, maybe as another uid; the folder's group
  // (the pod's fsGroup) is the one they share. A subprocess plugin keeps go-plugin's behaviour.
  const folderGid = sidecar ? prepareSocketFolder(socketDir) : undefined;
  let warnedGroup = false;
  const share = (path: string): void => {
    if (shareSocket(path, penv.socketGroup, folderGid) || warnedGroup) return;
    warnedGroup = true;
    logger.warn(
      "cannot give the socket its folder's group: a host under another uid will get EACCES. Give the pod a securityContext.fsGroup",
      { socket: path, folderGid, gid: process.getgid?.() },
    );
  };
  if (sidecar) {
    address = join(socketDir, SIDECAR_SOCKET_NAME);
    checkSocketPath(address);
    await clearStaleSocket(address);
  } else {
    address = newSocketPath(socketDir);
  }

  let security: TransportSecurity = insecureTransport();
  let serverCert = "";
  if (penv.clientCertPem) {
    checkCertPem(penv.clientCertPem, PLUGIN_ENV.clientCert);
    // pkijs only with AutoMTLS: a plugin without it starts (and restarts) without loading it.
    const own = await (await import("../protocol/self-signed.ts")).generateCertificate();
    security = mtlsTransport(own, penv.clientCertPem);
    serverCert = certToHandshakeField(own.certPem);
  } else if (config.tls) {
    // The host knows this certificate's CA already: nothing goes in the handshake (go-plugin does the same).
    const t = await config.tls();
    security = mtlsTransport({ certPem: t.certPem, keyPem: t.keyPem }, t.caPem);
  }

  const server = newServer(config.maxReceiveMessageBytes ?? 4 * 1024 * 1024, (err) =>
    logger.error("host connection closed: the host broke HTTP/2 or a transport limit", {
      code: err.code,
      h2Code: err.details.h2Code,
      reason: err.message,
    }),
  );
  const health = new PluginHealth();
  // PLUGIN_MULTIPLEX_GRPC: the host's one connection carries yamux; the gRPC server sits behind a private splice socket.
  const mux = penv.multiplex
    ? new Multiplexer("server", { socketDir, logger, defaultTarget: newMuxSocketPath(socketDir) })
    : undefined;
  // Tracing (off unless OTEL_TRACES_EXPORTER asks): spans continue the host's trace, callbacks included.
  const names = Object.keys(plugins);
  const tracing = podplugTracing(`podplug-plugin-${penv.pluginName ?? names.join("-")}`, (w) =>
    logger.warn(`tracing: ${w}`, { code: "TRACING_CONFIG" }),
  );
  const spanAttributes = { "podplug.plugin": penv.pluginName ?? names.join(",") };
  const broker = new GRPCBroker({
    socketDir,
    security,
    logger,
    share,
    ...(tracing ? { tracing: { tracing, attributes: spanAttributes } } : {}),
    ...(mux ? { mux } : {}),
  });
  const stdio = new StdioCapture();
  let stopping: Promise<void> | undefined;
  /** The handshake file's line once written (a signal may come before). */
  let announced: string | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const graceMs = config.gracefulShutdownMs ?? 2000;

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.debug("plugin shutting down", { graceMs });
      health.shutdown();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      broker.close();
      front?.close();
      mux?.close();
      await tracing?.flush();
      stdio.end();
      stdio.uninstall();
      if (announced !== undefined && penv.handshakeFile) removeHandshakeFile(penv.handshakeFile, announced);
      resolveDone();
    })());
  const stopAndExit = (): void => {
    void stop().then(() => process.exit(0));
  };
  // Installed before the line is announced: a signal in between would be lost for a PID 1.
  // Started by a host, go-plugin plugins ignore SIGINT (the host's terminal sends it to the
  // whole group). A sidecar has no such host: SIGINT stops it like SIGTERM. Either way the
  // handler is installed, which a Node process that is PID 1 in its container needs to stop at all.
  if (sidecar) process.on("SIGINT", stopAndExit);
  else process.on("SIGINT", () => logger.trace("plugin received interrupt signal, ignoring"));
  process.on("SIGTERM", stopAndExit);

  server.addService(HealthService, health.implementation());
  server.addService(GRPCControllerService, controllerImplementation(stopAndExit));
  server.addService(GRPCStdioService, stdio.implementation());
  const brokerImpl: GRPCBrokerServer = { startStream: (call) => broker.attach(call) };
  server.addService(GRPCBrokerService, brokerImpl);
  for (const [name, p] of Object.entries(plugins)) {
    if (!p.grpcServer)
      throw new PodplugError(
        "CONFIG_INVALID",
        `plugin ${JSON.stringify(name)} has no grpcServer(); podplug serves gRPC plugins only.`,
      );
    const registrar = tracing
      ? tracing.registrar(server, { ...spanAttributes, "podplug.plugin": penv.pluginName ?? name })
      : server;
    await p.grpcServer(broker, intercepted(registrar, config.interceptors ?? []));
  }

  await bindUnix(server, mux?.defaultTarget ?? address, security);
  const front = mux ? await listenMultiplexed(address, mux, logger) : undefined;
  share(address);

  const handshake: Handshake = {
    core: CORE_PROTOCOL_VERSION,
    appVersion: version,
    network: "unix",
    address,
    protocol: "grpc",
    serverCert,
  };
  // The 7th field only for a host that asked (older hosts split the line into 6 fields).
  if (penv.multiplex) handshake.multiplex = true;
  const line = formatHandshake(handshake);
  writeSync(1, `${line}\n`);
  if (sidecar && penv.handshakeFile) {
    writeHandshakeFile(penv.handshakeFile, line);
    announced = line;
  }
  logger.debug("plugin address", { network: "unix", address });

  // From here on, what the plugin's code prints goes to the host over GRPCStdio.
  stdio.install(sidecar);
  // What V8 compiled to get here goes to the compile cache now, not only at a clean exit: the next
  // start, after a SIGKILL too, is warm (NODE_COMPILE_CACHE, which the host SDK sets by default).
  if (getCompileCacheDir() !== undefined) setImmediate(flushCompileCache).unref();

  if (!sidecar) watchParent(stopAndExit);

  return { version, handshake, logger, broker, health, stop, done };
}

/**
 * Exits 1 with go-plugin's incompatible-version message, as an hclog error
 * carrying the public code HANDSHAKE_APP_VERSION (the local runtime and
 * `kubectl logs` show it as such).
 */
function refuseVersions(
  version: number,
  ours: readonly number[],
  offered: readonly number[],
  base: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): never {
  const served = [...ours].sort((a, b) => a - b);
  const message =
    `Incompatible API version with plugin. Plugin version: ${version}, Client versions: [${offered.join(" ")}]. ` +
    `This plugin serves [${served.join(" ")}], none of the ${PLUGIN_ENV.protocolVersions} it was given: serve one ` +
    `of them, or list the versions it serves in the Plugin's spec.handshake.protocolVersions.`;
  hclogLogger((line) => writeSync(2, line), "error", base).error(message, {
    code: "HANDSHAKE_APP_VERSION",
    served,
    offered: [...offered],
  });
  writeTerminationMessage("HANDSHAKE_APP_VERSION", message, env);
  process.exit(1);
}

/** A plugin started by a host exits when that host is gone (no orphans). */
function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  const t = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(t);
      onGone();
    }
  }, 1000);
  t.unref();
}
