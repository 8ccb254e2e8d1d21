/**
 * The injection: pod template + Plugins -> pod template. Pure (no I/O, the
 * input is not mutated) and idempotent: injecting into an injected template
 * with the same Plugins gives the same template, and injecting no Plugins
 * removes everything podplug adds. The operator and the local runtime both
 * call it; docs/architecture.md fixes the names and paths it writes.
 */
import type {
  V1Container,
  V1EnvVar,
  V1PodTemplateSpec,
  V1Probe,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import semver from "semver";
import {
  HANDSHAKE_FILE_NAME,
  HOST_ENV,
  MAX_CALL_DEADLINE_MS,
  PLUGIN_ENV,
  SIDECAR_ENV,
  TLS_CERT_FILE,
} from "../constants.ts";
import { checkBudgetMs } from "./budget.ts";
import {
  CONTAINER_PREFIX,
  DEFAULT_LAUNCHER_IMAGE,
  DEFAULT_SCRATCH_SIZE_LIMIT,
  IMAGE_LAUNCHER_BIN,
  LAUNCHER_BIN,
  LAUNCHER_CONTAINER,
  LAUNCHER_DIR,
  LAUNCHER_VOLUME,
  MTLS_ROOT,
  MTLS_VOLUME_PREFIX,
  mtlsDir,
  mtlsSecretName,
  PLUGINS_ANNOTATION,
  pluginContainerName,
  pluginSocketDir,
  pluginVolumeName,
  podReloadAnnotation,
  RELOAD_DIR,
  RELOAD_VOLUME,
  RESERVED_PLUGIN_NAMES,
  SCRATCH_VOLUME_PREFIX,
  SOCKET_ROOT,
  SOCKET_VOLUME,
  standbyContainerName,
} from "./conventions.ts";
import { InjectError } from "./errors.ts";
import { checkStandbyNames, standbyContainer, standbyEnv, standbyVolumes, validateStandby } from "./standby.ts";
import type { Plugin, PluginCallPolicy, PluginLivenessSettings, PluginProbeSettings } from "./types.ts";
import { checkVersionConstraints } from "./version-constraints.ts";

/** Knobs of the injection that are not part of a Plugin. */
export interface InjectOptions {
  /**
   * The image of the launcher init container (the podplug image, which
   * carries podplug-launcher and podplug-probe); `false` injects no launcher:
   * plugins run their own commands, with no probes and no host readiness.
   */
  launcherImage?: string | false;
  /** Pull policy of the launcher image. */
  launcherImagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /**
   * Wire `spec.autoMTLS` Plugins to their host-certificate Secret (see
   * docs/operator.md): the plugin gets PLUGIN_CLIENT_CERT from it, the host
   * containers and the plugin's own probe mount it. Off by default: the local runtime
   * hands certificates to processes itself.
   */
  autoMTLS?: boolean;
  /**
   * Give each sidecar a writable scratch emptyDir (`podplug-tmp-<name>`, size
   * limit `spec.scratch.sizeLimit`, default 64Mi) at /tmp: its root
   * filesystem is read-only. The image's WORKDIR is kept (commands are often
   * relative to it); a plugin that writes to its working directory sets
   * `workingDir: /tmp`. Off by default: the local runtime's processes write to
   * the machine's own folders.
   */
  scratch?: boolean;
  /**
   * Let the operator reload launcher-run sidecars in place (webhook mode,
   * docs/lifecycle.md): the downward API volume `podplug-reload` of the Pod
   * annotations `podplug.io/reload-<plugin>`, mounted at /podplug/reload, and
   * PODPLUG_RELOAD_FILE naming the plugin's file. Off by default: templates
   * (template mode) and the local runtime (its own `podplug reload`) do not use it.
   */
  reload?: boolean;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const COOKIE_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

// The container-level settings that satisfy the `restricted` Pod Security
// Standard whatever the pod-level securityContext says.
function restrictedSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * A hung plugin is SIGKILLed ≤ periodSeconds × failureThreshold + timeoutSeconds
 * + terminationGracePeriodSeconds after it stops answering: 1 × 2 + 1 + 1 = 4 s
 * with these defaults (docs/liveness.md has the arithmetic). The probe-level
 * grace matters most: a stopped process ignores SIGTERM, and the pod's (30 s
 * by default) would apply otherwise.
 */
export const LIVENESS_DEFAULTS: Required<PluginLivenessSettings> = {
  initialDelaySeconds: 5,
  periodSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
  terminationGracePeriodSeconds: 1,
};

/** Readiness takes the plugin out of the host's reach at once (one failure), checked less often. */
export const READINESS_DEFAULTS: Required<PluginProbeSettings> = {
  initialDelaySeconds: 0,
  periodSeconds: 5,
  timeoutSeconds: 2,
  failureThreshold: 1,
};

/** The host containers' readiness: every plugin's host-state.json says ready (docs/liveness.md). */
export const HOST_READINESS_DEFAULTS: Required<PluginProbeSettings> = {
  initialDelaySeconds: 0,
  periodSeconds: 2,
  timeoutSeconds: 1,
  failureThreshold: 1,
};

/** The first words of every exec probe podplug injects: how a re-injection recognises its own. */
const isLauncherExec = (p: V1Probe | undefined): boolean => p?.exec?.command?.[0] === LAUNCHER_BIN;

function probe(settings: PluginProbeSettings | undefined, defaults: Required<PluginProbeSettings>): V1Probe {
  const timeoutSeconds = settings?.timeoutSeconds ?? defaults.timeoutSeconds;
  return {
    // The check must end inside the probe's own timeout (src/inject/budget.ts), so its reason reaches the event.
    exec: { command: [LAUNCHER_BIN, "probe", "-timeout", `${checkBudgetMs(timeoutSeconds)}ms`] },
    initialDelaySeconds: settings?.initialDelaySeconds ?? defaults.initialDelaySeconds,
    periodSeconds: settings?.periodSeconds ?? defaults.periodSeconds,
    timeoutSeconds,
    failureThreshold: settings?.failureThreshold ?? defaults.failureThreshold,
  };
}

function validatePlugin(p: Plugin, i: number): void {
  const at = `plugins[${i}]`;
  const name: unknown = p?.metadata?.name;
  if (typeof name !== "string" || !NAME_RE.test(name) || name.length > 50 || RESERVED_PLUGIN_NAMES.includes(name)) {
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `${JSON.stringify(name)} is not a usable plugin name: use a DNS-1123 label of at most 50 characters, not ${RESERVED_PLUGIN_NAMES.map((n) => JSON.stringify(n)).join(", ")}`,
      { path: `${at}.metadata.name` },
    );
  }
  const spec = p.spec;
  if (typeof spec?.image !== "string" || spec.image.length === 0) {
    throw new InjectError("INJECT_INVALID_PLUGIN", `plugin ${name} has no image: set spec.image`, {
      path: `${at}.spec.image`,
    });
  }
  const hs = spec.handshake;
  if (typeof hs?.magicCookieKey !== "string" || !COOKIE_KEY_RE.test(hs.magicCookieKey)) {
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name} needs an environment-variable name as magicCookieKey`,
      { path: `${at}.spec.handshake.magicCookieKey` },
    );
  }
  if (typeof hs.magicCookieValue !== "string" || hs.magicCookieValue.length === 0) {
    throw new InjectError("INJECT_INVALID_PLUGIN", `plugin ${name} needs a non-empty magicCookieValue`, {
      path: `${at}.spec.handshake.magicCookieValue`,
    });
  }
  const versions: unknown = hs.protocolVersions;
  if (!Array.isArray(versions) || versions.length === 0 || !versions.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name} needs at least one protocol version, each a positive integer`,
      { path: `${at}.spec.handshake.protocolVersions` },
    );
  }
  for (const kind of ["liveness", "readiness"] as const) {
    const settings: Record<string, unknown> = { ...spec.probes?.[kind] };
    for (const [field, value] of Object.entries(settings)) {
      const min = field === "initialDelaySeconds" ? 0 : 1;
      const known = field in (kind === "liveness" ? LIVENESS_DEFAULTS : READINESS_DEFAULTS);
      if (!known || !Number.isInteger(value) || (value as number) < min || (value as number) > 3600) {
        throw new InjectError(
          "INJECT_INVALID_PLUGIN",
          known
            ? `plugin ${name}: probes.${kind}.${field} must be an integer from ${min} to 3600, not ${JSON.stringify(value)}`
            : `plugin ${name}: probes.${kind} has no field ${field} (known: ${Object.keys(kind === "liveness" ? LIVENESS_DEFAULTS : READINESS_DEFAULTS).join(", ")})`,
          { path: `${at}.spec.probes.${kind}.${field}` },
        );
      }
    }
  }
  const vols = new Set<string>();
  for (const v of spec.volumes ?? []) {
    if (typeof v?.name !== "string" || !NAME_RE.test(v.name) || pluginVolumeName(name, v.name).length > 63) {
      throw new InjectError(
        "INJECT_INVALID_PLUGIN",
        `plugin ${name}: volume ${JSON.stringify(v?.name)} needs a DNS-1123 name short enough that podplug-${name}-<name> has at most 63 characters`,
        { path: `${at}.spec.volumes` },
      );
    }
    vols.add(v.name);
  }
  for (const m of spec.volumeMounts ?? []) {
    if (!vols.has(m?.name) || typeof m.mountPath !== "string" || !m.mountPath.startsWith("/")) {
      throw new InjectError(
        "INJECT_INVALID_PLUGIN",
        `plugin ${name}: mount ${JSON.stringify(m?.name)} needs the name of one of spec.volumes and an absolute mountPath`,
        { path: `${at}.spec.volumeMounts` },
      );
    }
  }
  if (spec.hostReadiness !== undefined && typeof spec.hostReadiness !== "boolean") {
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: hostReadiness must be true or false, not ${JSON.stringify(spec.hostReadiness)}`,
      { path: `${at}.spec.hostReadiness` },
    );
  }
  validateCallPolicy(spec.calls, name, `${at}.spec.calls`);
  if (spec.version !== undefined && (typeof spec.version !== "string" || semver.valid(spec.version) === null)) {
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: spec.version ${JSON.stringify(spec.version)} is not a semantic version (e.g. 1.4.2)`,
      { path: `${at}.spec.version` },
    );
  }
  validateStandby(p, at);
  if (spec.workingDir !== undefined && (typeof spec.workingDir !== "string" || !spec.workingDir.startsWith("/"))) {
    throw new InjectError("INJECT_INVALID_PLUGIN", `plugin ${name}: workingDir must be an absolute path`, {
      path: `${at}.spec.workingDir`,
    });
  }
  for (const e of spec.env ?? []) {
    // PLUGIN_UNIX_SOCKET_GROUP is the documented way to name the sockets' group (docs/security.md).
    if (e.name === PLUGIN_ENV.unixSocketGroup) continue;
    if (e.name.startsWith("PLUGIN_") || e.name.startsWith("PODPLUG_")) {
      throw new InjectError(
        "INJECT_INVALID_PLUGIN",
        `plugin ${name} sets ${e.name}: PLUGIN_ and PODPLUG_ names are reserved for the handshake`,
        { path: `${at}.spec.env` },
      );
    }
  }
}

function validateCallPolicy(c: PluginCallPolicy | undefined, name: string, path: string): void {
  if (c === undefined) return;
  if (typeof c !== "object" || c === null || Array.isArray(c))
    throw new InjectError("INJECT_INVALID_PLUGIN", `plugin ${name}: spec.calls must be an object`, { path });
  const d = c.deadlineMilliseconds;
  if (d !== undefined && (!Number.isInteger(d) || d < 1 || d > MAX_CALL_DEADLINE_MS))
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: spec.calls.deadlineMilliseconds must be a whole number of milliseconds from 1 to ${MAX_CALL_DEADLINE_MS}, not ${JSON.stringify(d)}`,
      { path: `${path}.deadlineMilliseconds` },
    );
  const w = c.whenUnavailable;
  if (w !== undefined && w !== "FailFast" && w !== "Wait")
    throw new InjectError(
      "INJECT_INVALID_PLUGIN",
      `plugin ${name}: spec.calls.whenUnavailable must be FailFast or Wait, not ${JSON.stringify(w)}`,
      { path: `${path}.whenUnavailable` },
    );
}

/** PODPLUG_PLUGIN_INFO's value: the Plugins that set `spec.version` or `spec.calls` (sorted by name), or undefined when none does. */
function pluginInfoEnv(sorted: readonly Plugin[]): string | undefined {
  const info: Record<
    string,
    { version?: string; calls?: { deadlineMs?: number; whenUnavailable?: "fail-fast" | "wait" } }
  > = {};
  for (const p of sorted) {
    const c = p.spec.calls;
    const calls = {
      ...(c?.deadlineMilliseconds !== undefined ? { deadlineMs: c.deadlineMilliseconds } : {}),
      ...(c?.whenUnavailable !== undefined
        ? { whenUnavailable: c.whenUnavailable === "Wait" ? ("wait" as const) : ("fail-fast" as const) }
        : {}),
    };
    const hasCalls = Object.keys(calls).length > 0;
    if (p.spec.version === undefined && !hasCalls) continue;
    info[p.metadata.name] = {
      ...(p.spec.version !== undefined ? { version: p.spec.version } : {}),
      ...(hasCalls ? { calls } : {}),
    };
  }
  return Object.keys(info).length > 0 ? JSON.stringify(info) : undefined;
}

/**
 * The native sidecar that runs plugin `p`: under podplug-launcher when the
 * Plugin names its command (the launcher cannot learn an image's entrypoint),
 * with exec probes of the launcher's probe either way.
 */
function pluginContainer(
  p: Plugin,
  launcher: boolean,
  mtls: boolean,
  scratch: boolean,
  fsGroup: number | undefined,
  reload: boolean,
): V1Container {
  const name = p.metadata.name;
  const hs = p.spec.handshake;
  // Sockets group-accessible under the pod's fsGroup, so a host of another uid connects (go-plugin reads it).
  const ownGroup = (p.spec.env ?? []).some((e) => e.name === PLUGIN_ENV.unixSocketGroup);
  const env: V1EnvVar[] = [
    { name: hs.magicCookieKey, value: hs.magicCookieValue },
    { name: PLUGIN_ENV.protocolVersions, value: [...hs.protocolVersions].sort((a, b) => a - b).join(",") },
    { name: PLUGIN_ENV.unixSocketDir, value: pluginSocketDir(name) },
    { name: SIDECAR_ENV.pluginName, value: name },
    { name: SIDECAR_ENV.handshakeFile, value: `${pluginSocketDir(name)}/${HANDSHAKE_FILE_NAME}` },
    ...(fsGroup !== undefined && !ownGroup ? [{ name: PLUGIN_ENV.unixSocketGroup, value: String(fsGroup) }] : []),
    // go-plugin's server reads the host's certificate from here and answers with its own.
    ...(mtls
      ? [
          {
            name: PLUGIN_ENV.clientCert,
            valueFrom: { secretKeyRef: { name: mtlsSecretName(name), key: TLS_CERT_FILE } },
          },
        ]
      : []),
    // The probe checks health as the host does, with the host's certificate.
    ...(mtls && launcher ? [{ name: HOST_ENV.mtlsRoot, value: MTLS_ROOT }] : []),
    ...(reload ? [{ name: SIDECAR_ENV.reloadFile, value: `${RELOAD_DIR}/${name}` }] : []),
    ...(p.spec.env ?? []).map((e) => structuredClone(e)),
  ];
  const c: V1Container = {
    name: pluginContainerName(name),
    image: p.spec.image,
    restartPolicy: "Always",
    env,
    volumeMounts: [
      { name: SOCKET_VOLUME, mountPath: pluginSocketDir(name), subPath: name },
      ...(scratch ? [{ name: `${SCRATCH_VOLUME_PREFIX}${name}`, mountPath: "/tmp", subPath: "tmp" }] : []),
      ...(p.spec.volumeMounts ?? []).map((m) => {
        const out: V1VolumeMount = { name: pluginVolumeName(name, m.name), mountPath: m.mountPath };
        if (m.readOnly !== undefined) out.readOnly = m.readOnly;
        if (m.subPath) out.subPath = m.subPath;
        return out;
      }),
      ...(launcher ? [launcherMount()] : []),
      ...(launcher && mtls ? mtlsMounts([name]) : []),
      ...(reload ? [{ name: RELOAD_VOLUME, mountPath: RELOAD_DIR, readOnly: true }] : []),
    ],
    securityContext: restrictedSecurityContext(),
    // The launcher's (and serve()'s) coded one-line reason when it stops a plugin; else the log's tail.
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  if (p.spec.workingDir) c.workingDir = p.spec.workingDir;
  if (p.spec.imagePullPolicy) c.imagePullPolicy = p.spec.imagePullPolicy;
  if (p.spec.command?.length)
    c.command = launcher ? [LAUNCHER_BIN, "run", "--", ...p.spec.command] : [...p.spec.command];
  if (p.spec.args?.length) c.args = [...p.spec.args];
  if (p.spec.resources && (p.spec.resources.limits || p.spec.resources.requests)) {
    c.resources = structuredClone(p.spec.resources) as V1Container["resources"];
  }
  if (launcher) {
    const live = p.spec.probes?.liveness;
    c.livenessProbe = {
      ...probe(live, LIVENESS_DEFAULTS),
      terminationGracePeriodSeconds:
        live?.terminationGracePeriodSeconds ?? LIVENESS_DEFAULTS.terminationGracePeriodSeconds,
    };
    c.readinessProbe = probe(p.spec.probes?.readiness, READINESS_DEFAULTS);
  }
  return c;
}

/** The launcher volume, read-only: plugins and hosts run its binaries and can never change them. */
function launcherMount(): V1VolumeMount {
  return { name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR, readOnly: true };
}

/** The init container that fills the launcher volume from the podplug image, then exits. */
function launcherContainer(image: string, pullPolicy: InjectOptions["launcherImagePullPolicy"]): V1Container {
  const c: V1Container = {
    name: LAUNCHER_CONTAINER,
    image,
    command: [IMAGE_LAUNCHER_BIN, "copy", LAUNCHER_DIR],
    volumeMounts: [{ name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR }],
    // A copy of two static binaries (≈12 MiB): counted in the pod's effective request only while it runs.
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
    securityContext: restrictedSecurityContext(),
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  if (pullPolicy) c.imagePullPolicy = pullPolicy;
  return c;
}

/** The host containers' readiness probe: ready iff the host SDK says each plugin is usable (host-state.json). */
function hostReadinessProbe(plugins: string[]): V1Probe {
  const d = HOST_READINESS_DEFAULTS;
  return {
    exec: { command: [LAUNCHER_BIN, "ready", ...plugins] },
    initialDelaySeconds: d.initialDelaySeconds,
    periodSeconds: d.periodSeconds,
    timeoutSeconds: d.timeoutSeconds,
    failureThreshold: d.failureThreshold,
  };
}

const isPodplugContainer = (c: V1Container): boolean => c.name.startsWith(CONTAINER_PREFIX);
const isPodplugEnv = (e: V1EnvVar): boolean =>
  e.name === HOST_ENV.socketRoot ||
  e.name === HOST_ENV.plugins ||
  e.name === HOST_ENV.mtlsRoot ||
  e.name === HOST_ENV.pluginInfo ||
  e.name === HOST_ENV.standby;
// Volumes named podplug-* are podplug's (sockets, certificates, scratch, the Plugins' own), like init containers.
const isPodplugVolume = (name: string): boolean => name.startsWith(CONTAINER_PREFIX);
const isPodplugMount = (m: V1VolumeMount): boolean => isPodplugVolume(m.name);

/** The read-only mounts of the host certificates, for host containers and the plugin's probe. */
function mtlsMounts(names: string[]): V1VolumeMount[] {
  return names.map((n) => ({ name: `${MTLS_VOLUME_PREFIX}${n}`, mountPath: mtlsDir(n), readOnly: true }));
}

/**
 * Returns `template` with `plugins` injected: the launcher init container,
 * then one native sidecar per plugin (sorted by name), the socket and
 * launcher volumes, and the host containers' mounts, environment and (unless
 * they have their own, or every Plugin sets `hostReadiness: false`) readiness probe. Whatever podplug injected before is
 * replaced, so the result depends only on the template's own fields.
 * @throws InjectError with a `code` on a template without containers, an
 *   invalid or duplicate Plugin, a host container named like a sidecar, or a
 *   Plugin outside the template's `podplug.io/plugin-versions` constraint.
 *   Init containers named `podplug-*` are podplug's: they are replaced.
 */
export function inject(
  template: V1PodTemplateSpec,
  plugins: readonly Plugin[],
  options: InjectOptions = {},
): V1PodTemplateSpec {
  if (!template || typeof template !== "object" || !template.spec || !Array.isArray(template.spec.containers)) {
    throw new InjectError(
      "INJECT_INVALID_TEMPLATE",
      "the pod template has no containers list: pass a workload's spec.template",
      { path: "template.spec.containers" },
    );
  }
  plugins.forEach(validatePlugin);
  const sorted = [...plugins].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.metadata.name === sorted[i - 1]!.metadata.name) {
      throw new InjectError(
        "INJECT_DUPLICATE_PLUGIN",
        `plugin ${sorted[i]!.metadata.name} is given twice: pass each Plugin once`,
        { path: "plugins" },
      );
    }
  }
  checkVersionConstraints(template, sorted);
  checkStandbyNames(sorted);
  const out = structuredClone(template);
  const spec = out.spec!;
  const sidecarNames = new Set([LAUNCHER_CONTAINER, ...sorted.map((p) => pluginContainerName(p.metadata.name))]);
  for (const p of sorted) if (p.spec.standby === true) sidecarNames.add(standbyContainerName(p.metadata.name));
  for (const c of spec.containers) {
    if (sorted.length > 0 && sidecarNames.has(c.name)) {
      throw new InjectError(
        "INJECT_NAME_CONFLICT",
        `the host container ${c.name} has the name of a sidecar podplug injects (${CONTAINER_PREFIX}<plugin>): rename it`,
        { path: `template.spec.containers[${c.name}]` },
      );
    }
  }

  // Strip what an earlier injection added, so the result is a function of the rest.
  const initContainers = (spec.initContainers ?? []).filter((c) => !isPodplugContainer(c));
  const volumes: V1Volume[] = (spec.volumes ?? []).filter((v) => !isPodplugVolume(v.name));
  for (const c of spec.containers) {
    if (c.env) c.env = c.env.filter((e) => !isPodplugEnv(e));
    if (c.volumeMounts) c.volumeMounts = c.volumeMounts.filter((m) => !isPodplugMount(m));
    if (c.env?.length === 0) delete c.env;
    if (c.volumeMounts?.length === 0) delete c.volumeMounts;
    if (isLauncherExec(c.readinessProbe)) delete c.readinessProbe;
  }
  const annotations = { ...(out.metadata?.annotations ?? {}) };
  delete annotations[PLUGINS_ANNOTATION];

  if (sorted.length > 0) {
    const names = sorted.map((p) => p.metadata.name);
    const mtls = options.autoMTLS ? sorted.filter((p) => p.spec.autoMTLS === true).map((p) => p.metadata.name) : [];
    const image = options.launcherImage ?? DEFAULT_LAUNCHER_IMAGE;
    const launcher = image !== false;
    const injected: V1Container[] = [];
    // A regular init container: it runs to completion before the first native sidecar starts.
    if (launcher) injected.push(launcherContainer(image, options.launcherImagePullPolicy));
    const scratch = options.scratch === true;
    const fsGroup = spec.securityContext?.fsGroup;
    // Only a plugin the launcher runs (its Plugin names a command) can act on a reload.
    const reloadable = (p: Plugin): boolean => options.reload === true && launcher && (p.spec.command?.length ?? 0) > 0;
    for (const p of sorted) {
      const c = pluginContainer(p, launcher, mtls.includes(p.metadata.name), scratch, fsGroup, reloadable(p));
      injected.push(c);
      if (p.spec.standby === true) injected.push(standbyContainer(c, p));
    }
    initContainers.unshift(...injected);
    volumes.push({ name: SOCKET_VOLUME, emptyDir: {} });
    if (launcher) volumes.push({ name: LAUNCHER_VOLUME, emptyDir: { sizeLimit: "64Mi" } });
    const reloads = sorted.filter(reloadable).map((p) => p.metadata.name);
    if (reloads.length > 0)
      volumes.push({
        name: RELOAD_VOLUME,
        downwardAPI: {
          items: reloads.map((n) => ({
            path: n,
            fieldRef: { fieldPath: `metadata.annotations['${podReloadAnnotation(n)}']` },
          })),
        },
      });
    const readyFor = launcher ? sorted.filter((p) => p.spec.hostReadiness !== false).map((p) => p.metadata.name) : [];
    for (const p of sorted) {
      const n = p.metadata.name;
      if (scratch)
        volumes.push({
          name: `${SCRATCH_VOLUME_PREFIX}${n}`,
          emptyDir: { sizeLimit: p.spec.scratch?.sizeLimit ?? DEFAULT_SCRATCH_SIZE_LIMIT },
        });
      volumes.push(...standbyVolumes(p, scratch));
      for (const v of p.spec.volumes ?? []) volumes.push({ ...structuredClone(v), name: pluginVolumeName(n, v.name) });
    }
    // 0444: non-root containers of any UID in the pod read the host key; it never leaves the pod.
    for (const n of mtls)
      volumes.push({
        name: `${MTLS_VOLUME_PREFIX}${n}`,
        secret: { secretName: mtlsSecretName(n), defaultMode: 0o444 },
      });
    const pluginInfo = pluginInfoEnv(sorted);
    const seen = new Set<string>();
    for (const v of volumes) {
      if (seen.has(v.name)) {
        throw new InjectError(
          "INJECT_NAME_CONFLICT",
          `two volumes of the pod would be named ${v.name} (a Plugin's own volume and podplug's or the workload's): rename the Plugin's volume`,
          { path: `template.spec.volumes[${v.name}]` },
        );
      }
      seen.add(v.name);
    }
    for (const c of spec.containers) {
      c.env = [
        ...(c.env ?? []),
        { name: HOST_ENV.socketRoot, value: SOCKET_ROOT },
        { name: HOST_ENV.plugins, value: names.join(",") },
        ...(mtls.length > 0 ? [{ name: HOST_ENV.mtlsRoot, value: MTLS_ROOT }] : []),
        ...(pluginInfo !== undefined ? [{ name: HOST_ENV.pluginInfo, value: pluginInfo }] : []),
        ...standbyEnv(sorted),
      ];
      c.volumeMounts = [
        ...(c.volumeMounts ?? []),
        { name: SOCKET_VOLUME, mountPath: SOCKET_ROOT },
        ...mtlsMounts(mtls),
      ];
      if (readyFor.length > 0 && !c.readinessProbe) {
        c.readinessProbe = hostReadinessProbe(readyFor);
        c.volumeMounts.push(launcherMount());
      }
    }
    annotations[PLUGINS_ANNOTATION] = names.join(",");
  }

  if (initContainers.length > 0) spec.initContainers = initContainers;
  else delete spec.initContainers;
  if (volumes.length > 0) spec.volumes = volumes;
  else delete spec.volumes;
  if (Object.keys(annotations).length > 0) {
    out.metadata = { ...(out.metadata ?? {}), annotations };
  } else if (out.metadata) {
    delete out.metadata.annotations;
  }
  return out;
}
