/**
 * A workload's constraints on the versions of its plugins: the pod template
 * annotation `podplug.io/plugin-versions: "kv=^1.2.0, counter=>=2.0.0 <3"`.
 * The injection refuses a Plugin whose `spec.version` is outside its range
 * (or that declares none) before anything runs: the operator shows it in the
 * Plugin's status, the webhook refuses the Pod, `podplug run` the manifest.
 */

import type { V1ObjectMeta, V1PodTemplateSpec } from "@kubernetes/client-node";
import semver from "semver";
import { InjectError } from "./errors.ts";
import type { Plugin } from "./types.ts";

/** The annotation, on the pod template (or Pod), that constrains plugin versions. */
export const PLUGIN_VERSIONS_ANNOTATION = "podplug.io/plugin-versions";

const PATH = `template.metadata.annotations[${PLUGIN_VERSIONS_ANNOTATION}]`;

/** `name=range` pairs separated by commas (a semver range has no comma); INJECT_INVALID_TEMPLATE naming the bad one. */
export function parseVersionConstraints(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    const name = eq > 0 ? item.slice(0, eq).trim() : "";
    const range = eq > 0 ? item.slice(eq + 1).trim() : "";
    if (name === "" || range === "" || semver.validRange(range) === null)
      throw new InjectError(
        "INJECT_INVALID_TEMPLATE",
        `${JSON.stringify(item)} is not <plugin>=<semver range> (e.g. kv=^1.2.0, counter=>=2.0.0 <3)`,
        { path: PATH },
      );
    if (out.has(name))
      throw new InjectError("INJECT_INVALID_TEMPLATE", `plugin ${name} is constrained twice`, { path: PATH });
    out.set(name, range);
  }
  return out;
}

/** Throws INJECT_VERSION_MISMATCH for the first of `plugins` (sorted) outside the template's constraint. */
export function checkVersionConstraints(template: V1PodTemplateSpec, plugins: readonly Plugin[]): void {
  const value = template.metadata?.annotations?.[PLUGIN_VERSIONS_ANNOTATION];
  if (value === undefined) return;
  const constraints = parseVersionConstraints(value);
  for (const p of plugins) {
    const name = p.metadata.name;
    const range = constraints.get(name);
    if (range === undefined) continue;
    const v = p.spec.version;
    if (v === undefined)
      throw new InjectError(
        "INJECT_VERSION_MISMATCH",
        `the workload accepts plugin ${name} at versions ${range}, but the Plugin declares no spec.version: set it, or drop ${name} from the annotation`,
        { path: PATH, plugin: name, range },
      );
    if (!semver.satisfies(v, range))
      throw new InjectError(
        "INJECT_VERSION_MISMATCH",
        `plugin ${name} is version ${v}, outside the range ${range} the workload accepts: deploy a Plugin version in that range, or change the annotation`,
        { path: PATH, plugin: name, range, version: v },
      );
  }
}

/**
 * Why `meta`'s `podplug.io/plugin-versions` refuses `plugin`'s version, or
 * undefined when it does not. A malformed annotation is not this function's
 * to report: the injection itself refuses it, for every Plugin.
 */
export function versionRefusal(meta: V1ObjectMeta | undefined, plugin: Readonly<Plugin>): string | undefined {
  if (meta?.annotations?.[PLUGIN_VERSIONS_ANNOTATION] === undefined) return undefined;
  try {
    checkVersionConstraints({ metadata: meta }, [plugin as Plugin]);
    return undefined;
  } catch (err) {
    if (err instanceof InjectError && err.code === "INJECT_VERSION_MISMATCH") return err.message;
    return undefined;
  }
}
