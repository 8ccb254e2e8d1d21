/**
 * A Plugin's `spec.calls` on the host side: the injection puts every Plugin's
 * policy of the pod in PODPLUG_CALL_POLICY (JSON, keyed by plugin name), and
 * sidecarAttach() hands this plugin's to the client as its defaults.
 */
import { HOST_ENV, MAX_CALL_DEADLINE_MS } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import type { OutageMode } from "./reconnecting-channel.ts";

/** The defaults a Plugin sets for calls to it. */
export interface CallPolicy {
  /** Deadline of a call made without one, ms. */
  deadlineMs?: number;
  /** What calls do while the plugin is down. */
  whenUnavailable?: OutageMode;
}

/**
 * `plugin`'s policy in `raw` (PODPLUG_CALL_POLICY), or undefined when it sets
 * none. Anything but the injection's shape is CONFIG_INVALID: a wrong default
 * deadline silently ignored would be worse than a host that refuses to start.
 */
export function callPolicyFor(raw: string | undefined, plugin: string): CallPolicy | undefined {
  if (raw === undefined || raw === "") return undefined;
  const bad = (why: string): PodplugError =>
    new PodplugError(
      "CONFIG_INVALID",
      `${HOST_ENV.callPolicy} is not the injection's call policy: ${why}. It is set by the podplug operator from the Plugins' spec.calls; remove it from the container's env if you set it by hand.`,
      { variable: HOST_ENV.callPolicy },
    );
  let all: unknown;
  try {
    all = JSON.parse(raw);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof all !== "object" || all === null || Array.isArray(all)) throw bad("not a JSON object");
  const mine: unknown = (all as Record<string, unknown>)[plugin];
  if (mine === undefined) return undefined;
  if (typeof mine !== "object" || mine === null || Array.isArray(mine)) throw bad(`${plugin}'s entry is not an object`);
  const { deadlineMs, whenUnavailable, ...rest } = mine as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw bad(`${plugin}'s entry has unknown fields ${extra.join(", ")}`);
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
  return {
    ...(deadlineMs !== undefined ? { deadlineMs: deadlineMs as number } : {}),
    ...(whenUnavailable !== undefined ? { whenUnavailable } : {}),
  };
}
