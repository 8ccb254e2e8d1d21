/**
 * The Plugin resource (podplug.io/v1alpha1), as the CRD in
 * crds/plugins.podplug.io.yaml defines it. Shared by the operator and the
 * local runtime; plain JSON shapes, no classes, so a parsed manifest is one.
 */
import type { V1EnvVar, V1LabelSelector, V1ObjectMeta, V1Volume } from "@kubernetes/client-node";

/** API group, version and kind of the Plugin resource. */
export const PLUGIN_GROUP = "podplug.io";
export const PLUGIN_VERSION = "v1alpha1";
export const PLUGIN_API_VERSION = `${PLUGIN_GROUP}/${PLUGIN_VERSION}`;
export const PLUGIN_KIND = "Plugin";

/** The workload kinds a Plugin can join. */
export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet";
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ["Deployment", "StatefulSet", "DaemonSet"];

/** go-plugin's HandshakeConfig plus the protocol versions the plugin speaks. */
export interface PluginHandshake {
  magicCookieKey: string;
  magicCookieValue: string;
  protocolVersions: number[];
}

/** Probe timing; podplug fills in the handler (an exec of `podplug-launcher probe`). */
export interface PluginProbeSettings {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

/** Liveness adds the probe-level grace: a hung plugin does not honour SIGTERM, so SIGKILL follows soon. */
export interface PluginLivenessSettings extends PluginProbeSettings {
  terminationGracePeriodSeconds?: number;
}

/** Resource quantities as the API gives them: strings or integers. */
export interface PluginResources {
  limits?: Record<string, string | number>;
  requests?: Record<string, string | number>;
}

/** A mount of one of the Plugin's own volumes (`spec.volumes`) into its container. */
export interface PluginVolumeMount {
  /** The name of an entry of `spec.volumes`. */
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

/** The desired state of one plugin. */
/**
 * How a host calls this plugin by default, like Envoy ext_proc's
 * `message_timeout` and `failure_mode_allow`: set by the platform team in the
 * Plugin, read by the host SDK from the injected env.
 */
export interface PluginCallPolicy {
  /** Deadline of a call made without one, in milliseconds (1 to 3,600,000). Default: none. */
  deadlineMilliseconds?: number;
  /** While the plugin is down: fail calls at once (`FailFast`, the default) or let them wait for it up to their deadline (`Wait`). */
  whenUnavailable?: "FailFast" | "Wait";
}

export interface PluginSpec {
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  command?: string[];
  args?: string[];
  env?: V1EnvVar[];
  resources?: PluginResources;
  handshake: PluginHandshake;
  selector: V1LabelSelector;
  workloadKinds?: WorkloadKind[];
  probes?: { liveness?: PluginLivenessSettings; readiness?: PluginProbeSettings };
  autoMTLS?: boolean;
  /**
   * Host containers without a readinessProbe of their own get one that is
   * ready only while the host SDK can use this plugin (docs/liveness.md);
   * `false` leaves this plugin out of it. Default true.
   */
  hostReadiness?: boolean;
  /** The plugin's semantic version, which hosts may constrain (their `versionRange`; docs/host-authors.md). */
  version?: string;
  /**
   * Run a second, pre-started instance beside the plugin (the sidecar
   * `podplug-<name>-standby`, serving in `<root>/<name>-standby`); the host
   * SDK fails over to it when the active one dies (docs/host-authors.md,
   * "Standby"). Each instance has its own state. Default false.
   */
  standby?: boolean;
  /** The host's defaults for calls to this plugin (docs/host-authors.md, "Call policy"); code may override them. */
  calls?: PluginCallPolicy;
  /** The plugin's working directory; default: the image's WORKDIR. `/tmp` is the writable scratch folder. */
  workingDir?: string;
  /** Pod volumes of this plugin only (named podplug-<plugin>-<name> in the pod). */
  volumes?: V1Volume[];
  /** Where the plugin container mounts `volumes`. */
  volumeMounts?: PluginVolumeMount[];
  /** The writable scratch emptyDir at /tmp. */
  scratch?: { sizeLimit?: string };
}

/** One status condition, in the shape of metav1.Condition. */
export interface PluginCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/**
 * A workload that carries the plugin: in template mode one whose pod
 * template carries it (kind: Deployment, StatefulSet, DaemonSet); in webhook
 * mode what runs Pods that carry it (any controller's kind, or `Pod` for a
 * Pod without one).
 */
export interface PluginWorkloadRef {
  kind: string;
  name: string;
  ready?: boolean;
  /** Webhook mode: its live Pods that carry the sidecar. */
  pods?: number;
  /** The image digests (`sha256:…`) its Pods' plugin containers run, from their containerStatuses' imageID. */
  digests?: string[];
}

/** What the operator observed. */
export interface PluginStatus {
  observedGeneration?: number;
  workloadCount?: number;
  readyWorkloadCount?: number;
  /** Webhook mode: live Pods that carry the sidecar, and how many of them are ready. */
  podCount?: number;
  readyPodCount?: number;
  /** The digest spec.image pins (`sha256:…`), if it pins one. */
  imageDigest?: string;
  workloads?: PluginWorkloadRef[];
  /** Webhook mode: the last cluster reload asked by the annotation `podplug.io/reload` (docs/lifecycle.md). */
  reload?: PluginReloadStatus;
  conditions?: PluginCondition[];
}

/** Where a cluster reload of a Plugin's sidecars stands. */
export interface PluginReloadStatus {
  /** The `podplug.io/reload` value it is for. */
  token: string;
  /** Reloading (pods left), Reloaded (every reloadable pod done), Halted (a reloaded sidecar failed: no further pod). */
  state: "Reloading" | "Reloaded" | "Halted";
  /** When the operator first saw the token; a sidecar started since counts as reloaded. */
  startTime: string;
  completionTime?: string;
  /** Live Pods carrying the sidecar. */
  podCount: number;
  reloadedCount: number;
  /** Pods whose sidecar restarted and is ready again (the first 100 by name). */
  reloadedPods: string[];
  /** Pods it failed in, or cannot reach (created without the reload volume), and why. */
  failedPods: { name: string; reason: string; message: string }[];
  message: string;
}

/** A Plugin object. `metadata.name` names the sidecar and the socket sub-folder. */
export interface Plugin {
  apiVersion: typeof PLUGIN_API_VERSION;
  kind: typeof PLUGIN_KIND;
  metadata: V1ObjectMeta & { name: string };
  spec: PluginSpec;
  status?: PluginStatus;
}
