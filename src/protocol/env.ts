import { PLUGIN_ENV, SIDECAR_ENV } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { parseBool } from "./handshake.ts";

/** go-plugin's exact refusal when the magic cookie is missing or wrong (then exit 1). */
export const COOKIE_MISMATCH_MESSAGE =
  "This binary is a plugin. These are not meant to be executed directly.\n" +
  "Please execute the program that consumes these plugins, which will\n" +
  "load any plugins automatically\n";

/** The magic cookie: a UX guard against running a plugin by hand, not a security measure. */
export interface HandshakeConfig {
  /** Protocol version used when no versioned plugin map is given. */
  protocolVersion: number;
  magicCookieKey: string;
  magicCookieValue: string;
}

/** Checks a handshake config is usable, naming the bad field. */
export function validateHandshakeConfig(h: HandshakeConfig, where: string): void {
  if (!h.magicCookieKey || !h.magicCookieValue) {
    throw new PodplugError(
      "CONFIG_INVALID",
      `${where}: handshake.magicCookieKey and magicCookieValue must be non-empty strings.`,
    );
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(h.magicCookieKey)) {
    throw new PodplugError(
      "CONFIG_INVALID",
      `${where}: handshake.magicCookieKey ${JSON.stringify(h.magicCookieKey)} is not a valid environment variable name.`,
    );
  }
  if (!Number.isInteger(h.protocolVersion) || h.protocolVersion < 0) {
    throw new PodplugError(
      "CONFIG_INVALID",
      `${where}: handshake.protocolVersion must be a non-negative integer, got ${String(h.protocolVersion)}.`,
    );
  }
}

/** The handshake facts a plugin reads from its environment at start. */
export interface PluginEnv {
  /** Versions the host offered, invalid entries dropped (as go-plugin does). */
  hostVersions: number[];
  /** Entries of PLUGIN_PROTOCOL_VERSIONS that were not integers. */
  invalidVersions: string[];
  multiplex: boolean;
  clientCertPem: string | undefined;
  socketDir: string | undefined;
  socketGroup: string | undefined;
  handshakeFile: string | undefined;
  pluginName: string | undefined;
}

/** Reads a plugin's environment. Never throws: go-plugin tolerates junk here. */
export function readPluginEnv(env: NodeJS.ProcessEnv): PluginEnv {
  const hostVersions: number[] = [];
  const invalidVersions: string[] = [];
  const raw = env[PLUGIN_ENV.protocolVersions];
  if (raw) {
    for (const s of raw.split(",")) {
      if (/^[+-]?\d{1,9}$/.test(s)) hostVersions.push(Number.parseInt(s, 10));
      else invalidVersions.push(s);
    }
  }
  return {
    hostVersions,
    invalidVersions,
    multiplex: parseBool(env[PLUGIN_ENV.multiplexGRPC] ?? "") === true,
    clientCertPem: env[PLUGIN_ENV.clientCert] || undefined,
    socketDir: env[PLUGIN_ENV.unixSocketDir] || undefined,
    socketGroup: env[PLUGIN_ENV.unixSocketGroup] || undefined,
    handshakeFile: env[SIDECAR_ENV.handshakeFile] || undefined,
    pluginName: env[SIDECAR_ENV.pluginName] || undefined,
  };
}

/**
 * go-plugin's negotiation: walk our versions from highest to lowest and take
 * the first the host offered; with none in common, answer with our lowest and
 * let the host refuse it.
 */
export function negotiateVersion(ours: readonly number[], offered: readonly number[]): number {
  const sorted = [...ours].sort((a, b) => b - a);
  for (const v of sorted) if (offered.includes(v)) return v;
  const lowest = sorted.at(-1);
  if (lowest === undefined)
    throw new PodplugError(
      "CONFIG_INVALID",
      "plugin serves no protocol versions: give handshake.protocolVersion or versionedPlugins.",
    );
  return lowest;
}
