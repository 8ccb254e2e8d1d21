/**
 * The host SDK's `Client`: go-plugin's plugin.Client in TypeScript. It starts
 * a plugin as a child process (or attaches to one serving in a socket folder),
 * validates its handshake, connects, and dispenses typed clients.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pino, type Logger as PinoLogger } from "pino";
import { ENV, validateHandshakeConfig, type HandshakeConfig } from "../protocol/env.ts";
import { PodplugError } from "../protocol/errors.ts";
import { parseHandshake, type Handshake, type HandshakeExpectations } from "../protocol/handshake.ts";
import { generateCertificate, handshakeFieldToCert, type CertificatePair } from "../protocol/mtls.ts";
import type { ClientOf, PluginSet } from "../protocol/plugin.ts";
import { insecureTransport, mtlsTransport, type TransportSecurity } from "../protocol/transport.ts";
import { waitForPlugin, type AttachConfig } from "./attach.ts";
import { Connection, type StdioSinks } from "./connection.ts";
import { startProcess, type PluginCommand, type StartedProcess } from "./process.ts";

/** go-plugin's ClientConfig, in TypeScript. Give exactly one of `cmd`, `attach`. */
export interface ClientConfig<P extends PluginSet> {
  /** Must match the plugin's; `protocolVersion` is the version of `plugins`. */
  handshake: HandshakeConfig;
  /** Plugins at `handshake.protocolVersion`. */
  plugins?: P;
  /** Plugins per protocol version; the plugin picks the highest both know. */
  versionedPlugins?: Record<number, P>;
  /** Start the plugin as a child process. */
  cmd?: PluginCommand;
  /** Attach to a plugin already serving in a socket folder (sidecar mode). */
  attach?: AttachConfig;
  /** A name for logs and errors (default: the command's or folder's base name). */
  name?: string;
  /** The host's pino logger; the client logs on a child bound to `plugin: name`. */
  logger?: PinoLogger;
  /** How long to wait for the handshake (go-plugin's StartTimeout, default 60 s). */
  startTimeoutMs?: number;
  /** go-plugin's AutoMTLS: throwaway certificates, mutual TLS on every socket. */
  autoMTLS?: boolean;
  /** Attach mode with TLS: the host's certificate the plugin was given in PLUGIN_CLIENT_CERT. */
  hostCertificate?: CertificatePair;
  /** How long kill() waits for a graceful exit before SIGKILL (default 2000 ms, as go-plugin). */
  killTimeoutMs?: number;
  /** Raw copies of the plugin's stdout/stderr stream (go-plugin's SyncStdout/SyncStderr). */
  stdio?: StdioSinks;
  /** Folder for the plugin's and the host's broker sockets in cmd mode (default: a new temp folder). */
  socketDir?: string;
  /** Ask for PLUGIN_MULTIPLEX_GRPC: podplug does not support it and refuses with MULTIPLEX_UNSUPPORTED. */
  multiplex?: boolean;
}

/** A connected plugin: what `start()` resolves to. */
export interface PluginInfo {
  readonly handshake: Handshake;
  /** The negotiated protocol version. */
  readonly version: number;
  /** The plugin's process id (cmd mode). */
  readonly pid?: number;
}

/**
 * One plugin, from start to kill. `dispense()` starts it on first use.
 *
 * @example
 * const client = new Client({ handshake, plugins: { kv: kvPlugin }, cmd: { command: "node", args: ["plugin.ts"] } });
 * const kv = await client.dispense("kv");
 * await client.kill();
 */
export class Client<P extends PluginSet> {
  readonly name: string;
  private readonly config: ClientConfig<P>;
  private readonly log: PinoLogger;
  private starting: Promise<PluginInfo> | undefined;
  private conn: Connection | undefined;
  private proc: StartedProcess | undefined;
  private plugins: P | undefined;
  private socketDir: string | undefined;
  private ownsSocketDir = false;
  private readonly dispensed = new Map<string, unknown>();
  private killed = false;
  private readonly abort = new AbortController();

  constructor(config: ClientConfig<P>) {
    validateHandshakeConfig(config.handshake, "Client");
    if ((config.cmd === undefined) === (config.attach === undefined)) {
      throw new PodplugError("CONFIG_INVALID", "Client: give exactly one of `cmd` (start the plugin) or `attach` (a plugin serving in a socket folder).");
    }
    if (!config.plugins && !config.versionedPlugins) {
      throw new PodplugError("CONFIG_INVALID", "Client: give `plugins` or `versionedPlugins`: the plugins this host can dispense.");
    }
    this.config = config;
    this.name = config.name ?? (config.cmd ? basename(config.cmd.args?.at(-1) ?? config.cmd.command) : basename(config.attach!.dir));
    this.log = (config.logger ?? pino()).child({ plugin: this.name });
  }

  private versions(): Record<number, P> {
    const v: Record<number, P> = { ...this.config.versionedPlugins };
    if (this.config.plugins) v[this.config.handshake.protocolVersion] = this.config.plugins;
    return v;
  }

  /** Starts (or attaches to) the plugin and connects. Safe to call more than once. */
  start(): Promise<PluginInfo> {
    if (this.killed) return Promise.reject(new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed; create a new Client.`));
    this.starting ??= this.doStart().catch(async (err: unknown) => {
      await this.cleanup();
      throw err;
    });
    return this.starting;
  }

  private async doStart(): Promise<PluginInfo> {
    const versions = this.versions();
    const expect: HandshakeExpectations = {
      versions: Object.keys(versions).map(Number),
      protocols: ["grpc"],
      networks: ["unix"],
      multiplex: this.config.multiplex === true,
      source: `plugin ${this.name}`,
    };
    const timeoutMs = this.config.startTimeoutMs ?? 60_000;
    let handshake: Handshake;
    let security: TransportSecurity = insecureTransport();
    let brokerDir: string;
    const t0 = performance.now();
    if (this.config.cmd) {
      if (this.config.multiplex) {
        // Refuse before starting anything: podplug's broker has no yamux.
        throw new PodplugError("MULTIPLEX_UNSUPPORTED", `plugin ${this.name}: PLUGIN_MULTIPLEX_GRPC is not supported by podplug hosts; leave \`multiplex\` unset.`);
      }
      this.socketDir = this.config.socketDir ?? mkdtempSync(join(tmpdir(), "pp-"));
      this.ownsSocketDir = this.config.socketDir === undefined;
      brokerDir = this.socketDir;
      const own = this.config.autoMTLS ? await generateCertificate() : undefined;
      const env = this.pluginEnv(expect.versions, own);
      this.proc = await startProcess(this.config.cmd, env, { timeoutMs, name: this.name, log: this.log });
      void this.proc.exited.then(({ code, signal }) => this.log.debug({ code, signal }, "plugin process exited"));
      try {
        handshake = parseHandshake(this.proc.line, expect);
      } catch (err) {
        throw withStderr(err, this.proc.stderrTail());
      }
      if (own) {
        if (!handshake.serverCert) {
          throw new PodplugError("HANDSHAKE_CERT", `plugin ${this.name} was asked for AutoMTLS but announced no certificate; it cannot serve TLS.`);
        }
        security = mtlsTransport(own, handshakeFieldToCert(handshake.serverCert, `plugin ${this.name}`));
      }
    } else {
      const attach = this.config.attach!;
      brokerDir = attach.dir;
      handshake = await waitForPlugin(attach, expect, timeoutMs, this.abort.signal);
      if (handshake.serverCert) {
        if (!this.config.hostCertificate) {
          throw new PodplugError("HANDSHAKE_CERT", `plugin ${this.name} serves AutoMTLS but this host has no hostCertificate; give the certificate whose PEM the plugin got in PLUGIN_CLIENT_CERT.`);
        }
        security = mtlsTransport(this.config.hostCertificate, handshakeFieldToCert(handshake.serverCert, `plugin ${this.name}`));
      }
    }
    this.plugins = versions[handshake.appVersion];
    const conn = new Connection(handshake, security, brokerDir, this.log);
    try {
      await conn.open(Math.max(1000, timeoutMs - (performance.now() - t0)), this.log, this.config.stdio ?? {});
    } catch (err) {
      conn.close();
      throw this.proc ? withStderr(err, this.proc.stderrTail()) : err;
    }
    this.conn = conn;
    this.log.debug({ version: handshake.appVersion, address: handshake.address, ms: Math.round(performance.now() - t0) }, "plugin connected");
    const info: PluginInfo = { handshake, version: handshake.appVersion };
    return this.proc?.child.pid !== undefined ? { ...info, pid: this.proc.child.pid } : info;
  }

  /** The environment go-plugin gives a plugin it starts. */
  private pluginEnv(versions: readonly number[], own: CertificatePair | undefined): NodeJS.ProcessEnv {
    const cmd = this.config.cmd!;
    const env: NodeJS.ProcessEnv = { ...(cmd.skipHostEnv ? {} : process.env), ...cmd.env };
    env[this.config.handshake.magicCookieKey] = this.config.handshake.magicCookieValue;
    env[ENV.protocolVersions] = versions.join(",");
    env[ENV.minPort] = "10000";
    env[ENV.maxPort] = "25000";
    env[ENV.unixSocketDir] = this.socketDir;
    if (own) env[ENV.clientCert] = own.certPem;
    else delete env[ENV.clientCert];
    // The host's own sidecar settings must not leak into a child plugin.
    delete env[ENV.handshakeFile];
    delete env[ENV.multiplexGRPC];
    return env;
  }

  /** The live connection (starting the plugin if needed). */
  async connection(): Promise<Connection> {
    await this.start();
    if (!this.conn) throw new PodplugError("CLIENT_CLOSED", `plugin ${this.name}: the client was killed.`);
    return this.conn;
  }

  /** Returns the typed client of plugin `name` (go-plugin's Dispense). */
  async dispense<K extends keyof P & string>(name: K): Promise<ClientOf<P[K]>> {
    const conn = await this.connection();
    const cached = this.dispensed.get(name);
    if (cached !== undefined) return cached as ClientOf<P[K]>;
    const entry = this.plugins?.[name];
    if (!entry) {
      const known = Object.keys(this.plugins ?? {}).join(", ");
      throw new PodplugError("PLUGIN_UNKNOWN", `unknown plugin type: ${name} (this host knows: ${known || "none"} at version ${conn.handshake.appVersion}).`, { name });
    }
    if (!entry.grpcClient) throw new PodplugError("CONFIG_INVALID", `plugin ${JSON.stringify(name)} has no grpcClient(); the host cannot build its client.`);
    const c = entry.grpcClient(conn.broker, conn) as ClientOf<P[K]>;
    this.dispensed.set(name, c);
    return c;
  }

  /** go-plugin's Ping: a health check of service "plugin". */
  async ping(timeoutMs = 5000): Promise<void> {
    const conn = await this.connection();
    await conn.check(timeoutMs);
  }

  /** True once a started plugin process has exited. */
  get exited(): boolean {
    const c = this.proc?.child;
    return c !== undefined && (c.exitCode !== null || c.signalCode !== null);
  }

  /**
   * go-plugin's Kill: ask the plugin to shut down, wait up to `killTimeoutMs`,
   * then SIGKILL; remove the socket folder. In attach mode the plugin is not
   * ours to stop: only the connection is closed.
   */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    const conn = this.conn;
    const proc = this.proc;
    const wait = this.config.killTimeoutMs ?? 2000;
    if (conn && proc && !this.exited) await conn.shutdown(wait);
    conn?.close();
    if (proc && !this.exited) {
      const graceful = await Promise.race([proc.exited.then(() => true), sleep(wait).then(() => false)]);
      if (!graceful) {
        this.log.warn("plugin failed to exit gracefully; killing it");
        proc.child.kill("SIGKILL");
        await proc.exited;
      }
    }
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    this.conn?.close();
    this.conn = undefined;
    if (this.proc && !this.exited) {
      this.proc.child.kill("SIGKILL");
      await this.proc.exited;
    }
    if (this.ownsSocketDir && this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Adds the plugin's stderr tail to a handshake error, so the user sees why. */
function withStderr(err: unknown, tail: string): unknown {
  if (err instanceof PodplugError && tail && !err.message.includes(tail)) {
    return new PodplugError(err.code, `${err.message}\nplugin stderr:\n${tail}`, { ...err.details, stderr: tail }, { cause: err.cause });
  }
  return err;
}
