/**
 * A pod template (already injected with plugins) turned into local
 * processes: volumes become folders under the run's state folder, each
 * container's mount paths are rewritten to them in its env and command, pod
 * ports map to free local ports, and containers start in the kubelet's order
 * (native sidecars one by one, each once started; init containers to
 * completion; then the main containers), stopping in reverse.
 */
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { V1Container, V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SIDECAR_ENV } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import type { BackoffOptions } from "../process/backoff.ts";
import { type ContainerSpec, LocalContainer } from "./container.ts";
import type { Isolation } from "./isolation.ts";
import { isLauncherCopy, unwrapRun } from "./launcher.ts";
import type { RuntimeMetrics } from "./metrics.ts";

/** Settings of a local pod. */
export interface PodOptions {
  name: string;
  /** Folder for volumes and scratch (keep it short: socket paths live in it). */
  stateDir: string;
  /** Working folder of containers without a workingDir (the project folder). */
  cwd: string;
  /** Where the manifests came from, for error messages. */
  file: string;
  log: Logger;
  metrics: RuntimeMetrics;
  backoff: BackoffOptions;
  /** Per-plugin users, or none (isolation.ts). */
  isolation: Isolation;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** Kubernetes' $(VAR) expansion in env values, command and args ($$ escapes). */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) =>
    m === "$$" ? "$" : name !== undefined && name in env ? env[name]! : m,
  );
}

/** Builds the local containers of `template`. */
export async function planPod(template: V1PodTemplateSpec, o: PodOptions): Promise<ContainerSpec[]> {
  const spec = template.spec!;
  const volumes = new Map<string, string>();
  const isolated = o.isolation.perPluginUser;
  // Plugins running as other users must be able to pass through to their own folders (not list them).
  const passable = (dir: string): void => {
    if (isolated) chmodSync(dir, 0o711);
  };
  mkdirSync(join(o.stateDir, "v"), { recursive: true });
  passable(o.stateDir);
  passable(join(o.stateDir, "v"));
  for (const v of spec.volumes ?? []) {
    if (v.emptyDir) {
      const dir = join(o.stateDir, "v", v.name);
      mkdirSync(dir, { recursive: true });
      passable(dir);
      volumes.set(v.name, dir);
    } else if (v.hostPath) volumes.set(v.name, v.hostPath.path);
    else
      throw new PodplugError(
        "MANIFEST_UNSUPPORTED",
        `${o.file}: ${o.name}: spec.volumes[${v.name}]: podplug run supports emptyDir and hostPath volumes only.`,
        { file: o.file, field: `spec.volumes.${v.name}` },
      );
  }
  // Pod ports → local ports (containers share localhost as a pod's share its network).
  const ports = new Map<number, number>();
  const named = new Map<string, number>();
  const allContainers = [...(spec.initContainers ?? []), ...spec.containers];
  for (const c of allContainers) for (const p of c.ports ?? []) if (p.name) named.set(p.name, p.containerPort);
  const port = (p: number | string): number => {
    const n = typeof p === "number" ? p : (named.get(p) ?? Number(p));
    return ports.get(n) ?? n;
  };
  const graceMs = (spec.terminationGracePeriodSeconds ?? 5) * 1000;
  const build = (
    c: V1Container,
    role: ContainerSpec["role"],
    restart: ContainerSpec["restart"],
    field: string,
  ): ContainerSpec => {
    const plugin = c.env?.find((e) => e.name === SIDECAR_ENV.pluginName)?.value;
    const user = isolated && role === "plugin" && plugin ? o.isolation.userFor(`${o.stateDir}/${plugin}`) : undefined;
    const mounts = (c.volumeMounts ?? [])
      .map((m) => {
        const base = volumes.get(m.name);
        if (base === undefined)
          throw new PodplugError(
            "MANIFEST_INVALID",
            `${o.file}: ${o.name}: ${field}.volumeMounts[${m.name}]: no volume of that name in the pod.`,
            { file: o.file },
          );
        const local = m.subPath ? join(base, m.subPath) : base;
        mkdirSync(local, { recursive: true });
        if (user && m.subPath) {
          // The plugin's own sub-folder (its socket folder): its user's and group's alone, as its mount is
          // in a pod. setgid: the sockets the host serves there for broker callbacks join the plugin's group.
          chownSync(local, user.uid, user.gid);
          chmodSync(local, 0o2770);
        }
        return { path: m.mountPath.replace(/\/$/, ""), local };
      })
      .sort((a, b) => b.path.length - a.path.length);
    const localize = (s: string): string => {
      for (const m of mounts) if (s === m.path || s.startsWith(`${m.path}/`)) return m.local + s.slice(m.path.length);
      return s;
    };
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    const own: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.valueFrom) {
        const f = e.valueFrom.fieldRef?.fieldPath;
        const v =
          f === "metadata.name"
            ? o.name
            : f === "metadata.namespace"
              ? "default"
              : f === "status.podIP"
                ? "127.0.0.1"
                : undefined;
        if (v === undefined)
          throw new PodplugError(
            "MANIFEST_UNSUPPORTED",
            `${o.file}: ${o.name}: ${field}.env[${e.name}].valueFrom: podplug run resolves fieldRef metadata.name, metadata.namespace and status.podIP only.`,
            { file: o.file },
          );
        own[e.name] = v;
      } else own[e.name] = localize(expand(e.value ?? "", own));
    }
    Object.assign(env, own);
    // Under the launcher: run the plugin's own command; the container does the launcher's job (launcher.ts).
    const raw = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expand(a, own));
    const unwrapped = unwrapRun(raw);
    const command = (unwrapped ?? raw).map(localize);
    if (command[0] === "node") command[0] = process.execPath; // the runtime's own Node, not whatever PATH finds first
    if (command.length === 0)
      throw new PodplugError(
        "MANIFEST_INVALID",
        `${o.file}: ${o.name}: ${field}.command: container ${c.name} has no command.`,
        { file: o.file },
      );
    const s: ContainerSpec = {
      name: c.name,
      role,
      restart,
      command,
      env,
      cwd: c.workingDir ? localize(c.workingDir) : o.cwd,
      probeContext: { port, env, cwd: o.cwd },
      graceMs,
    };
    if (plugin) s.plugin = plugin;
    if (unwrapped) s.launcher = true;
    if (user) s.user = user;
    // The host's broker sockets in a plugin's folder must be group-writable for the plugin to dial them.
    if (isolated && role === "host") s.umask = 0o002;
    // A host's port named `metrics` (what a PodMonitor selects) feeds the live view's call figures.
    const metricsPort = c.ports?.find((p) => p.name === "metrics")?.containerPort;
    if (role === "host" && metricsPort) s.metricsPort = port(metricsPort);
    if (c.startupProbe) s.startupProbe = c.startupProbe;
    if (c.livenessProbe) s.livenessProbe = c.livenessProbe;
    if (c.readinessProbe) s.readinessProbe = c.readinessProbe;
    return s;
  };
  const podRestart = (spec.restartPolicy ?? "Always") as ContainerSpec["restart"];
  const specs: ContainerSpec[] = [];
  (spec.initContainers ?? []).forEach((c, i) => {
    // The launcher's binaries: the runtime does their job itself, so there is nothing to copy.
    if (isLauncherCopy(c)) return;
    const sidecar = c.restartPolicy === "Always";
    const role = sidecar && c.env?.some((e) => e.name === SIDECAR_ENV.pluginName) ? "plugin" : "init";
    specs.push(build(c, role, sidecar ? "Always" : "OnFailure", `spec.initContainers[${i}]`));
  });
  for (const [i, c] of spec.containers.entries()) specs.push(build(c, "host", podRestart, `spec.containers[${i}]`));
  return specs;
}

/** A running local pod. */
export class LocalPod {
  readonly name: string;
  readonly containers: LocalContainer[];

  constructor(name: string, specs: ContainerSpec[], o: PodOptions) {
    this.name = name;
    this.containers = specs.map((s) => new LocalContainer(name, s, o.log, o.metrics, o.backoff));
  }

  /** Starts containers in the kubelet's order. */
  async start(): Promise<void> {
    for (const c of this.containers) {
      if (c.spec.role === "host") continue;
      if (c.spec.restart === "Always") {
        const started = new Promise<void>((r) => c.once("started", () => r()));
        c.start();
        await started;
      } else {
        const done = new Promise<number | null>((r) => c.once("terminated", r));
        c.start();
        const code = await done;
        if (code !== 0)
          throw new PodplugError(
            "MANIFEST_INVALID",
            `init container ${c.spec.name} of ${this.name} failed (${c.lastExit}).`,
          );
      }
    }
    for (const c of this.containers) if (c.spec.role === "host") c.start();
  }

  /** Stops main containers first, then sidecars in reverse order. */
  async stop(): Promise<void> {
    await Promise.all(this.containers.filter((c) => c.spec.role === "host").map((c) => c.stop()));
    for (const c of [...this.containers].reverse()) if (c.spec.role !== "host") await c.stop();
  }
}
