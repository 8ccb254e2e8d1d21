/**
 * The injection's part for `spec.standby`: a second native sidecar
 * `podplug-<name>-standby`, a copy of the plugin's own serving in its own
 * folder `<root>/<name>-standby`, and the host env that tells the host SDK
 * to attach to both (docs/host-authors.md, "Standby").
 */
import type { V1Container, V1EnvVar, V1Volume } from "@kubernetes/client-node";
import { HANDSHAKE_FILE_NAME, HOST_ENV, PLUGIN_ENV, SIDECAR_ENV } from "../constants.ts";
import {
  DEFAULT_SCRATCH_SIZE_LIMIT,
  pluginSocketDir,
  RELOAD_VOLUME,
  SCRATCH_VOLUME_PREFIX,
  SOCKET_VOLUME,
  STANDBY_NAME_MAX,
  STANDBY_SUFFIX,
  standbyContainerName,
  standbySocketDir,
} from "./conventions.ts";
import { InjectError } from "./errors.ts";
import type { Plugin } from "./types.ts";

/** Checks `spec.standby` of plugin `p` (at `plugins[i]`): a boolean, and a name short enough for its container. */
export function validateStandby(p: Plugin, at: string): void {
  const standby: unknown = p.spec.standby;
  const name = p.metadata.name;
  if (standby === undefined) return;
  if (typeof standby !== "boolean")
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: spec.standby must be true or false, not ${JSON.stringify(standby)}`,
      { path: `${at}.spec.standby` },
    );
  if (standby && name.length > STANDBY_NAME_MAX)
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: with spec.standby the name may have at most ${STANDBY_NAME_MAX} characters (its standby container ${standbyContainerName(name)} must fit in 63): shorten the name`,
      { path: `${at}.metadata.name` },
    );
}

/** Throws INJECT_NAME_CONFLICT when plugin `<a>-standby` sits beside plugin `a` with a standby (same folder and container). */
export function checkStandbyNames(sorted: readonly Plugin[]): void {
  const names = new Set(sorted.map((p) => p.metadata.name));
  for (const p of sorted) {
    const twin = `${p.metadata.name}${STANDBY_SUFFIX}`;
    if (p.spec.standby === true && names.has(twin))
      throw new InjectError(
        "INJECT_NAME_CONFLICT",
        `plugin ${p.metadata.name} has spec.standby, whose sidecar and socket folder are named ${twin}, like plugin ${twin}: rename one of them`,
        { path: "plugins" },
      );
  }
}

/**
 * The standby sidecar of plugin `p`, made from its primary sidecar `primary`:
 * the same image, command, probes and mounts, but its own name, socket folder
 * (and handshake file in it) and scratch volume. PODPLUG_PLUGIN_NAME stays the
 * plugin's: logs, the AutoMTLS certificate and the local runtime's user are the plugin's.
 */
export function standbyContainer(primary: V1Container, p: Plugin): V1Container {
  const name = p.metadata.name;
  const own = `${name}${STANDBY_SUFFIX}`;
  const c = structuredClone(primary);
  c.name = standbyContainerName(name);
  const dir = standbySocketDir(name);
  // A cluster reload restarts the primary only: the standby serves meanwhile (reloading both at once is an outage).
  c.env = (c.env ?? []).filter((e) => e.name !== SIDECAR_ENV.reloadFile);
  c.volumeMounts = (c.volumeMounts ?? []).filter((m) => m.name !== RELOAD_VOLUME);
  const primaryDir = pluginSocketDir(name);
  c.env = c.env.map((e): V1EnvVar => {
    if (e.name === PLUGIN_ENV.unixSocketDir) return { name: e.name, value: dir };
    if (e.name === SIDECAR_ENV.handshakeFile) return { name: e.name, value: `${dir}/${HANDSHAKE_FILE_NAME}` };
    // A value naming the plugin's own folder (examples/demo's KV_DIR) names the standby's: the primary's
    // folder is not mounted in it, and each instance keeps its own state there.
    if (e.value !== undefined && (e.value === primaryDir || e.value.startsWith(`${primaryDir}/`)))
      return { ...e, value: dir + e.value.slice(primaryDir.length) };
    return e;
  });
  c.volumeMounts = (c.volumeMounts ?? []).map((m) => {
    if (m.name === SOCKET_VOLUME && m.mountPath === pluginSocketDir(name))
      return { ...m, mountPath: dir, subPath: own };
    if (m.name === `${SCRATCH_VOLUME_PREFIX}${name}`) return { ...m, name: `${SCRATCH_VOLUME_PREFIX}${own}` };
    return m;
  });
  return c;
}

/** The standby sidecar's own scratch emptyDir (with `scratch`): the two instances share no /tmp. */
export function standbyVolumes(p: Plugin, scratch: boolean): V1Volume[] {
  if (p.spec.standby !== true || !scratch) return [];
  return [
    {
      name: `${SCRATCH_VOLUME_PREFIX}${p.metadata.name}${STANDBY_SUFFIX}`,
      emptyDir: { sizeLimit: p.spec.scratch?.sizeLimit ?? DEFAULT_SCRATCH_SIZE_LIMIT },
    },
  ];
}

/** PODPLUG_STANDBY for the host containers: the sorted Plugins with a standby, or nothing when none has. */
export function standbyEnv(sorted: readonly Plugin[]): V1EnvVar[] {
  const names = sorted.filter((p) => p.spec.standby === true).map((p) => p.metadata.name);
  return names.length > 0 ? [{ name: HOST_ENV.standby, value: names.join(",") }] : [];
}
