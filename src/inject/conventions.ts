/**
 * The names and paths docs/architecture.md fixes for injected pods. The
 * operator, the launcher's injection, the local runtime and the SDKs all read them from here.
 */
import { STANDBY_SUFFIX } from "../constants.ts";

export { STANDBY_SUFFIX };

/** The shared emptyDir every injected container mounts (plugins: a sub-folder). */
export const SOCKET_VOLUME = "podplug-sockets";
/** Where the host sees all plugin folders, and each plugin its own. */
export const SOCKET_ROOT = "/var/run/podplug";
/**
 * The init container that copies podplug-launcher and podplug-probe from the
 * podplug image into the launcher volume (docs/launcher.md), and that volume.
 */
export const LAUNCHER_CONTAINER = "podplug-launcher";
export const LAUNCHER_VOLUME = "podplug-bin";
/** Where every plugin and host container sees the launcher volume, read-only. */
export const LAUNCHER_DIR = "/podplug/bin";
/** The launcher in that volume: plugin commands run under it, probes exec it. */
export const LAUNCHER_BIN = `${LAUNCHER_DIR}/podplug-launcher`;
/** Where the podplug image carries the binaries (not under LAUNCHER_DIR, which the volume hides). */
export const IMAGE_LAUNCHER_BIN = "/podplug/launcher/podplug-launcher";
/** Default image of the launcher init container: the podplug image. */
export const DEFAULT_LAUNCHER_IMAGE = "ghcr.io/podplug/podplug:0.1.0";
/** Plugin names podplug keeps for its own containers (`podplug-<name>`). */
export const RESERVED_PLUGIN_NAMES: readonly string[] = ["launcher", "bin", "agent"];
/** Sidecar containers are `podplug-<plugin name>`; the prefix is podplug's. */
export const CONTAINER_PREFIX = "podplug-";
/** Template annotation listing the injected plugins, sorted, joined by `,`. */
export const PLUGINS_ANNOTATION = "podplug.io/plugins";

/**
 * Cluster reloads (webhook mode, docs/lifecycle.md): a Plugin annotated
 * `podplug.io/reload: <token>` makes the operator set the Pod annotation
 * `podplug.io/reload-<plugin>: <token>` on each Pod; the kubelet projects it
 * into the downward API volume below, and the plugin's launcher, seeing the
 * file change, stops the plugin so the kubelet restarts only that sidecar.
 */
export const RELOAD_ANNOTATION = "podplug.io/reload";
/** Longest `podplug.io/reload` token taken: it is copied onto every Pod, into the status and an Event. */
export const RELOAD_TOKEN_MAX = 256;
/** The Pod annotation the launcher of plugin `name` watches (through the reload volume). */
export function podReloadAnnotation(name: string): string {
  return `${RELOAD_ANNOTATION}-${name}`;
}
/**
 * The Pod annotation webhook mode's in-place upgrader sets when it patches
 * plugin `name`'s sidecar to an image (the value). An upgrade judges only the
 * Pods it patched: a sidecar that fails on an image it was created with is not
 * an upgrade's failure.
 */
export function podUpgradedAnnotation(name: string): string {
  return `podplug.io/upgraded-${name}`;
}
/** The downward API volume of those annotations, one file per plugin, mounted whole (a subPath is never updated). */
export const RELOAD_VOLUME = "podplug-reload";
/** Where each launcher-run sidecar sees the reload volume, read-only. */
export const RELOAD_DIR = "/podplug/reload";

/** The folder of plugin `name`, the same path in the host and the plugin. */
export function pluginSocketDir(name: string): string {
  return `${SOCKET_ROOT}/${name}`;
}

/** The sidecar container name of plugin `name`. */
export function pluginContainerName(name: string): string {
  return `${CONTAINER_PREFIX}${name}`;
}

/** Longest name of a Plugin with `spec.standby`: `podplug-<name>-standby` is a container name (63 at most). */
export const STANDBY_NAME_MAX = 63 - CONTAINER_PREFIX.length - STANDBY_SUFFIX.length;

/** The folder of plugin `name`'s standby instance: `<root>/<name>-standby`. */
export function standbySocketDir(name: string): string {
  return pluginSocketDir(`${name}${STANDBY_SUFFIX}`);
}

/** The standby sidecar's container name: `podplug-<name>-standby`. */
export function standbyContainerName(name: string): string {
  return pluginContainerName(`${name}${STANDBY_SUFFIX}`);
}

/** Where host containers and the agent find each AutoMTLS plugin's host certificate. */
export const MTLS_ROOT = "/var/run/podplug-mtls";
/** Volumes carrying those certificates are `podplug-mtls-<name>`. */
export const MTLS_VOLUME_PREFIX = "podplug-mtls-";

/** The Secret (type kubernetes.io/tls) holding the host certificate for plugin `name`. */
export function mtlsSecretName(name: string): string {
  return `podplug-${name}-mtls`;
}

/** The folder holding `tls.crt` and `tls.key` of plugin `name`'s host certificate. */
export function mtlsDir(name: string): string {
  return `${MTLS_ROOT}/${name}`;
}

/** Every sidecar's scratch emptyDir (operator only) is `podplug-tmp-<name>`, mounted at /tmp. */
export const SCRATCH_VOLUME_PREFIX = "podplug-tmp-";
/** Default size limit of a sidecar's scratch emptyDir. */
export const DEFAULT_SCRATCH_SIZE_LIMIT = "64Mi";
/** Working directory of a sidecar whose Plugin sets no `workingDir` (on its scratch volume). */

/** The pod volume of volume `volume` of plugin `name` (`spec.volumes`). */
export function pluginVolumeName(name: string, volume: string): string {
  return `${CONTAINER_PREFIX}${name}-${volume}`;
}
