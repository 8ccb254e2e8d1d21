/**
 * What a pod's Plugins tell its hosts: the injection puts, for each Plugin of
 * the pod that sets `spec.version` or `spec.calls`, an entry in
 * PODPLUG_PLUGIN_INFO (JSON, keyed by plugin name), and sidecarAttach()
 * hands this plugin's to the client: its declared version (checked against
 * the client's `versionRange`) and its call defaults.
 */
import semver from "semver";
import { HOST_ENV, MAX_CALL_DEADLINE_MS } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import type { OutageMode } from "./reconnecting-channel.ts";

/** The defaults a Plugin sets for calls to it (`spec.calls`). */
export interface CallPolicy {
  /** Deadline of a call made without one, ms. */
  deadlineMs?: number;
  /** What calls do while the plugin is down. */
  whenUnavailable?: OutageMode;
}

/** One plugin's entry. */
export interface PluginDeclaration {
  /** The Plugin's `spec.version`, a semantic version. */
  version?: string;
  calls?: CallPolicy;
}

/**
 * `plugin`'s entry in `raw` (PODPLUG_PLUGIN_INFO), or undefined when it has
 * none. Anything but the injection's shape is CONFIG_INVALID: a default
 * deadline or a version silently ignored would be worse than a host that
 * refuses to start.
 */
export function pluginInfoFor(raw: string | undefined, plugin: string): PluginDeclaration | undefined {
  if (raw === undefined || raw === "") return undefined;
  const bad = (why: string): PodplugError =>
    new PodplugError(
      "CONFIG_INVALID",
      `${HOST_ENV.pluginInfo} is not the injection's plugin info: ${why}. The podplug operator sets it from the Plugins' spec.version and spec.calls; remove it from the container's env if you set it by hand.`,
      { variable: HOST_ENV.pluginInfo },
    );
  let all: unknown;
  try {
    all = JSON.parse(raw);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (!isObject(all)) throw bad("not a JSON object");
  const mine = all[plugin];
  if (mine === undefined) return undefined;
  if (!isObject(mine)) throw bad(`${plugin}'s entry is not an object`);
  const { version, calls, ...rest } = mine;
  refuseExtra(rest, `${plugin}'s entry`, bad);
  if (version !== undefined && (typeof version !== "string" || semver.valid(version) === null))
    throw bad(`${plugin}'s version ${JSON.stringify(version)} is not a semantic version`);
  const info: PluginDeclaration = version !== undefined ? { version: version as string } : {};
  if (calls === undefined) return info;
  if (!isObject(calls)) throw bad(`${plugin}'s calls is not an object`);
  const { deadlineMs, whenUnavailable, ...more } = calls;
  refuseExtra(more, `${plugin}'s calls`, bad);
  if (
    deadlineMs !== undefined &&
    (typeof deadlineMs !== "number" ||
      !Number.isInteger(deadlineMs) ||
      deadlineMs < 1 ||
      deadlineMs > MAX_CALL_DEADLINE_MS)
  )
    throw bad(
      `${plugin}'s deadlineMs ${JSON.stringify(deadlineMs)} is not a whole number from 1 to ${MAX_CALL_DEADLINE_MS}`,
    );
  if (whenUnavailable !== undefined && whenUnavailable !== "fail-fast" && whenUnavailable !== "wait")
    throw bad(`${plugin}'s whenUnavailable ${JSON.stringify(whenUnavailable)} is neither fail-fast nor wait`);
  info.calls = {
    ...(deadlineMs !== undefined ? { deadlineMs: deadlineMs as number } : {}),
    ...(whenUnavailable !== undefined ? { whenUnavailable } : {}),
  };
  return info;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function refuseExtra(rest: Record<string, unknown>, what: string, bad: (why: string) => PodplugError): void {
  const extra = Object.keys(rest);
  if (extra.length > 0) throw bad(`${what} has unknown fields ${extra.join(", ")}`);
}

/**
 * Refuses, before any traffic, a plugin whose declared version is outside the
 * host's `range` (PLUGIN_VERSION_MISMATCH), or that declares none while the
 * host asks for one (PLUGIN_VERSION_UNKNOWN): an unchecked constraint is no
 * constraint.
 */
export function checkPluginVersion(plugin: string, range: string, version: string | undefined): void {
  if (version === undefined)
    throw new PodplugError(
      "PLUGIN_VERSION_UNKNOWN",
      `plugin ${plugin}: this host accepts versions ${range}, but the plugin declares no version. Set spec.version in its Plugin (or drop versionRange).`,
      { plugin, range },
    );
  if (!semver.satisfies(version, range, { includePrerelease: false }))
    throw new PodplugError(
      "PLUGIN_VERSION_MISMATCH",
      `plugin ${plugin} is version ${version}, outside the range ${range} this host accepts. Deploy a Plugin version in that range, or widen the host's versionRange.`,
      { plugin, range, version },
    );
}

/** A host's `versionRange`, or CONFIG_INVALID naming it. */
export function validRange(range: string, plugin: string): string {
  const r = semver.validRange(range);
  if (r === null)
    throw new PodplugError(
      "CONFIG_INVALID",
      `Client of plugin ${plugin}: versionRange ${JSON.stringify(range)} is not a semver range (e.g. "^1.2.0", ">=1.4 <2").`,
      { plugin, range },
    );
  return range;
}
