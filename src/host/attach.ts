/**
 * Finding a plugin the host did not start (sidecar mode): its socket folder
 * holds either the handshake file a podplug plugin writes, or — for an
 * unmodified Go plugin, which announces itself only on its own stdout — one
 * or more `plugin*` sockets, of which the newest live one is the plugin.
 */
import { readdirSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { HOST_ENV, STANDBY_SUFFIX, TLS_CERT_FILE, TLS_KEY_FILE } from "../constants.ts";
import { isPodplugError, PodplugError } from "../errors.ts";
import {
  CORE_PROTOCOL_VERSION,
  type Handshake,
  type HandshakeExpectations,
  parseHandshake,
} from "../protocol/handshake.ts";
import { readHostCertificate } from "../protocol/host-certificate.ts";
import type { CertificatePair } from "../protocol/mtls.ts";
import { findPluginEndpoint } from "../protocol/sidecar.ts";
import { probeSocket } from "../protocol/socket.ts";
import { accessDeniedError, isAccessDenied } from "../protocol/socket-access.ts";
import { FolderWatch } from "./folder-watch.ts";
import { type CallPolicy, pluginInfoFor } from "./plugin-info.ts";

/** How long a bare socket may wait for its handshake file before attaching is refused. */
const BARE_SOCKET_GRACE_MS = 1000;

/** A host's expectations: it always knows the versions it offers. */
export type HostExpectations = HandshakeExpectations & { versions: readonly number[] };

/** Where and how to attach. */
export interface AttachConfig {
  /** The plugin's socket folder (`/var/run/podplug/<name>` in a pod). */
  dir: string;
  /**
   * The protocol version a plugin that writes no handshake file serves (an
   * unmodified Go plugin: only its socket is there). Read from the handshake
   * file when there is one; without either, attaching is refused with
   * ATTACH_VERSION_UNKNOWN rather than guessed.
   */
  protocolVersion?: number;
  /**
   * Folder holding the host's AutoMTLS certificate (`tls.crt`, `tls.key`), used
   * when the plugin's handshake announces TLS and the client has no
   * `hostCertificate`. The operator mounts it at `$PODPLUG_MTLS_ROOT/<name>`.
   */
  certDir?: string;
  /**
   * The plugin's name in the pod. When set (sidecarAttach() sets it), the
   * client writes its connection state to `host-state.json` in `dir`, which
   * the host container's readiness probe reads (docs/host-authors.md, "Ready").
   */
  plugin?: string;
  /**
   * The standby sidecar's folder (`<root>/<name>-standby`, a Plugin with
   * `spec.standby`; sidecarAttach() sets it from PODPLUG_STANDBY): the client
   * attaches to both and fails over between them (docs/host-authors.md, "Standby").
   */
  standbyDir?: string;
  /** The Plugin's `spec.calls` (sidecarAttach() reads them from PODPLUG_PLUGIN_INFO): the client's defaults. */
  calls?: CallPolicy;
  /** The Plugin's `spec.version` (from PODPLUG_PLUGIN_INFO), checked against the client's `versionRange`. */
  version?: string;
}

/** One look at the folder: the plugin's handshake, or undefined if none is live yet. */
export async function locatePlugin(cfg: AttachConfig, expect: HostExpectations): Promise<Handshake | undefined> {
  const ep = await findPluginEndpoint(cfg.dir);
  if (ep.kind === "none") return undefined;
  if (ep.kind === "file") {
    const h = parseHandshake(ep.line, { ...expect, source: ep.file });
    const probe = await probeSocket(h.address);
    if (!probe.live) {
      if (probe.error && isAccessDenied(probe.error)) throw accessDeniedError(h.address, "connect to", probe.error);
      return undefined;
    }
    // A plugin killed outright leaves its file; its restart binds the same socket before it writes
    // its own line. The old line (an old AutoMTLS certificate) would fail every call on a live
    // connection: it counts only once it is not older than the socket it names.
    return h.network !== "unix" || !(await newerThan(h.address, ep.mtimeMs)) ? h : undefined;
  }
  const version = cfg.protocolVersion;
  if (version === undefined) {
    throw new PodplugError(
      "ATTACH_VERSION_UNKNOWN",
      `the plugin in ${cfg.dir} serves ${ep.socket} but wrote no handshake file, so its protocol version is unknown. ` +
        `Set attach.protocolVersion to the version it serves (this host offers [${expect.versions.join(" ")}]), or run it under a launcher that writes the handshake file.`,
      { dir: cfg.dir, socket: ep.socket, offered: [...expect.versions] },
    );
  }
  if (!expect.versions.includes(version)) {
    throw new PodplugError(
      "HANDSHAKE_APP_VERSION",
      `attach.protocolVersion ${version} is not one of the host's versions [${expect.versions.join(" ")}].`,
    );
  }
  return {
    core: CORE_PROTOCOL_VERSION,
    appVersion: version,
    network: "unix",
    address: ep.socket,
    protocol: "grpc",
    serverCert: "",
  };
}

/** Whether `path` changed after `mtimeMs` (false when it cannot be read: the probe just reached it). */
async function newerThan(path: string, mtimeMs: number): Promise<boolean> {
  try {
    return (await stat(path)).mtimeMs > mtimeMs;
  } catch {
    return false;
  }
}

/** How long a permission refusal may last before it is reported (a socket is chmodded just after it appears). */
const PERMISSION_SETTLE_MS = 500;

/** How often the folder is looked at again without a change seen in it. */
const POLL_MS = 100;

/**
 * Looks in the folder on every change in it and at least every
 * {@link POLL_MS} until a live plugin appears, or throws SOCKET_NOT_FOUND
 * after `timeoutMs`, SOCKET_PERMISSION as soon as access is refused for
 * {@link PERMISSION_SETTLE_MS}.
 */
export async function waitForPlugin(
  cfg: AttachConfig,
  expect: HostExpectations,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Handshake> {
  const changes = new FolderWatch(cfg.dir);
  try {
    return await lookUntilFound(cfg, expect, timeoutMs, changes, signal);
  } finally {
    changes.close();
  }
}

async function lookUntilFound(
  cfg: AttachConfig,
  expect: HostExpectations,
  timeoutMs: number,
  changes: FolderWatch,
  signal?: AbortSignal,
): Promise<Handshake> {
  const deadline = Date.now() + timeoutMs;
  let bareSince: number | undefined;
  let deniedSince: number | undefined;
  for (;;) {
    // Watched before each look, so that a change made while looking is not missed.
    changes.ensure();
    let h: Handshake | undefined;
    try {
      h = await locatePlugin(cfg, expect);
      deniedSince = undefined;
    } catch (err) {
      if (isPodplugError(err, "ATTACH_VERSION_UNKNOWN")) {
        // A launcher writes the handshake file just after its Go plugin's socket appears: give it a moment.
        bareSince ??= Date.now();
        if (Date.now() - bareSince >= BARE_SOCKET_GRACE_MS || Date.now() >= deadline) throw err;
      } else if (isPodplugError(err, "SOCKET_PERMISSION")) {
        // A plugin chmods its socket right after creating it: only a refusal that lasts is reported.
        deniedSince ??= Date.now();
        if (Date.now() - deniedSince >= PERMISSION_SETTLE_MS) throw err;
      } else throw err;
    }
    if (h) return h;
    if (signal?.aborted)
      throw new PodplugError("CLIENT_CLOSED", `stopped waiting for a plugin in ${cfg.dir}: the client was killed.`);
    if (Date.now() >= deadline) {
      let seen = "nothing";
      try {
        seen = readdirSync(cfg.dir).join(", ") || "an empty folder";
      } catch {
        seen = "no such folder";
      }
      throw new PodplugError(
        "SOCKET_NOT_FOUND",
        `no live plugin in ${cfg.dir} after ${timeoutMs} ms (found: ${seen}). Is the plugin container running, and is the socket volume mounted at the same path in both containers?`,
        { dir: cfg.dir },
      );
    }
    await changes.next(POLL_MS, signal);
  }
}

/**
 * Where plugin `name` serves in a pod (or local run) that podplug injected:
 * `$PODPLUG_SOCKET_ROOT/<name>`. Throws NOT_INJECTED when the pod was not
 * injected at all, PLUGIN_UNKNOWN when it has no such plugin.
 */
export function sidecarAttach(name: string, env: NodeJS.ProcessEnv = process.env): AttachConfig {
  const root = env[HOST_ENV.socketRoot];
  if (!root) {
    // Not a config error: the pod was not injected. In template mode the first pods of a new
    // workload start before the operator patches its template (docs/operator.md).
    throw new PodplugError(
      "NOT_INJECTED",
      `sidecarAttach(${JSON.stringify(name)}): ${HOST_ENV.socketRoot} is not set, so this pod was not injected by the podplug operator. ` +
        `If the workload is new, its first pods may have started before the operator patched its template: the operator's rollout replaces them, ` +
        `so exit and let the pod be replaced. If it persists, check that a Plugin selects this workload (kubectl get plugins) and that the operator runs. ` +
        `Outside a pod (or a podplug run), attach with an explicit { dir }.`,
      { plugin: name, missing: HOST_ENV.socketRoot },
    );
  }
  const names = (env[HOST_ENV.plugins] ?? "").split(",").filter(Boolean);
  if (names.length > 0 && !names.includes(name)) {
    throw new PodplugError(
      "PLUGIN_UNKNOWN",
      `no plugin ${JSON.stringify(name)} was injected into this pod (${HOST_ENV.plugins}=${names.join(",")}). Check the Plugin's selector matches this workload.`,
    );
  }
  const mtlsRoot = env[HOST_ENV.mtlsRoot];
  const info = pluginInfoFor(env[HOST_ENV.pluginInfo], name);
  const standby = (env[HOST_ENV.standby] ?? "").split(",").includes(name);
  return {
    dir: join(root, name),
    plugin: name,
    ...(standby ? { standbyDir: join(root, `${name}${STANDBY_SUFFIX}`) } : {}),
    ...(mtlsRoot ? { certDir: join(mtlsRoot, name) } : {}),
    ...(info?.calls ? { calls: info.calls } : {}),
    ...(info?.version ? { version: info.version } : {}),
  };
}

/** Reads the host certificate of plugin `plugin` from its AutoMTLS folder, or throws HANDSHAKE_CERT naming what is missing. */
export async function readCertDir(dir: string, plugin: string): Promise<CertificatePair> {
  const refuse = (why: string, cause?: unknown): PodplugError =>
    new PodplugError(
      "HANDSHAKE_CERT",
      `plugin ${plugin} serves AutoMTLS but the host certificate is not readable in ${dir} (${why}). Is spec.autoMTLS set and the Secret podplug-${plugin}-mtls mounted?`,
      { dir },
      cause === undefined ? undefined : { cause },
    );
  let pair: CertificatePair | undefined;
  try {
    pair = await readHostCertificate(dir);
  } catch (err) {
    throw refuse((err as Error).message, err);
  }
  if (!pair) throw refuse(`no ${TLS_CERT_FILE} and ${TLS_KEY_FILE} there`);
  return pair;
}
