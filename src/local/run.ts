/**
 * `podplug run`: the same Plugin manifests a cluster gets, run on one machine.
 * Manifests → the operator's injection function → local processes sharing a
 * socket folder, probed and restarted as the kubelet would.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";
import { PodplugError } from "../errors.ts";
import { InjectError } from "../inject/errors.ts";
import { inject } from "../inject/inject.ts";
import type { Plugin } from "../inject/types.ts";
import type { BackoffOptions } from "../process/backoff.ts";
import { LocalError } from "./errors.ts";
import { HostRedPoller } from "./host-red.ts";
import { decideIsolation, type Isolation, type IsolationMode } from "./isolation.ts";
import { type HostManifest, loadManifests } from "./manifests.ts";
import { type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";
import { LocalPod, planPod } from "./pod.ts";
import { type HostRed, LiveView } from "./view.ts";

/** Options of {@link run}. */
export interface RunOptions {
  /** Manifest files or folders. */
  files: string[];
  /** Working folder of the containers (default: the current folder). */
  cwd?: string;
  /** Where volumes (the socket folder among them) live; default a new temp folder, removed on stop. */
  stateDir?: string;
  /** Port of /metrics (default 9464; 0 picks a free one; -1 disables). */
  metricsPort?: number;
  /** The live view on a terminal (default: when stdout is a TTY). */
  view?: boolean;
  /** Logger (default: JSON on stdout, or into the view's state folder file). */
  logger?: Logger;
  /** Restart back-off of containers (kubelet-like defaults, shorter). */
  backoff?: BackoffOptions;
  /** Per-plugin users (docs/local-runtime.md, "Isolation"); default `auto`. */
  isolation?: IsolationMode;
}

/** A running local run. */
export interface LocalRun {
  pods: LocalPod[];
  stateDir: string;
  metrics: RuntimeMetrics;
  /** Whether each plugin runs as its own user, and why not if not. */
  isolation: Isolation;
  /** `http://127.0.0.1:<port>/metrics`, when served. */
  metricsUrl?: string;
  /** Graceful stop: hosts first, then sidecars in reverse; removes the state folder if it made it. */
  stop(): Promise<void>;
}

/** Serves `metrics` on 127.0.0.1:`port`; a busy port is a coded error. */
async function serveMetrics(metrics: RuntimeMetrics, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      });
    } else {
      res.writeHead(404).end();
    }
  });
  try {
    await new Promise<void>((r, j) => {
      server.once("error", j);
      server.listen(port, "127.0.0.1", () => r());
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE")
      throw new LocalError(
        "LOCAL_METRICS_PORT_IN_USE",
        `podplug run: the metrics port 127.0.0.1:${port} is in use (another podplug run?): pass --metrics-port 0 for any free port, or --metrics-port=-1 for none.`,
        { port },
        { cause: err },
      );
    throw new LocalError(
      "LOCAL_METRICS_LISTEN",
      `podplug run: cannot serve metrics on 127.0.0.1:${port}: ${e.message}`,
      { port },
      { cause: err },
    );
  }
  const a = server.address();
  return { server, url: `http://127.0.0.1:${typeof a === "object" && a ? a.port : port}/metrics` };
}

/**
 * The template without its pod `fsGroup`. The kubelet adds it to every
 * container's groups, so the sockets' group (the injection's
 * PLUGIN_UNIX_SOCKET_GROUP) is theirs; here Node cannot (spawn sets no
 * supplementary groups) and nothing needs it: the host runs as the runtime's
 * user, which reaches every socket (isolation.ts). A Plugin's own
 * PLUGIN_UNIX_SOCKET_GROUP is kept, as go-plugin would keep it.
 */
function withoutFsGroup(t: HostManifest["template"]): HostManifest["template"] {
  const sc = t.spec?.securityContext;
  if (!t.spec || sc?.fsGroup === undefined) return t;
  const { fsGroup: _ignored, ...rest } = sc;
  return { ...t, spec: { ...t.spec, securityContext: rest } };
}

/** The operator's injection of `plugins` into `host`'s pod template; what it refuses is a manifest error naming the file. */
function injectInto(host: HostManifest, plugins: Plugin[]): ReturnType<typeof inject> {
  try {
    return inject(withoutFsGroup(host.template), plugins);
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    throw new PodplugError("MANIFEST_INVALID", `${host.file}: ${host.kind} ${host.name}: ${err.message}`, {
      file: host.file,
      field: err.path,
    });
  }
}

/** The run's logger: the given one, JSON on stdout, or lines into the live view. */
function runLogger(o: RunOptions, useView: boolean, view: () => LiveView | undefined): Logger {
  if (o.logger) return o.logger;
  if (!useView) return pino({ level: "info" });
  return pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n")) {
          if (!l) continue;
          const r = JSON.parse(l) as { msg?: string; container?: string; level?: number };
          view()?.log(`${r.container ? `[${r.container}] ` : ""}${r.msg ?? ""}`);
        }
        cb();
      },
    }),
  );
}

/**
 * Loads, injects and starts everything; rejects with a coded error on bad
 * manifests, a busy metrics port or a failed start. On every failure what was
 * started is stopped and a state folder it made is removed.
 */
export async function run(o: RunOptions): Promise<LocalRun> {
  const manifests = loadManifests(o.files);
  const cwd = resolve(o.cwd ?? process.cwd());
  const ownsState = o.stateDir === undefined;
  const stateDir = resolve(o.stateDir ?? mkdtempSync(join(tmpdir(), "pp-run-")));
  const useView = o.view ?? process.stdout.isTTY === true;
  let view: LiveView | undefined;
  const log = runLogger(o, useView, () => view);
  const metrics = runtimeMetrics();
  const pods: LocalPod[] = [];
  const pollers: { pod: string; host: string; poller: HostRedPoller }[] = [];
  let server: Server | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info("stopping: hosts first, then plugins");
      for (const p of pollers) p.poller.stop();
      for (const p of pods) await p.stop();
      server?.close();
      server?.closeAllConnections();
      view?.stop();
      if (ownsState) rmSync(stateDir, { recursive: true, force: true });
      log.info("stopped");
    })());

  let isolation: Isolation;
  let metricsUrl: string | undefined;
  try {
    for (const s of manifests.skipped) log.warn({ object: s }, "not run locally");
    mkdirSync(stateDir, { recursive: true });
    // A temp folder we make is opened to passage (0711) when isolating, so its parent is what must be passable.
    isolation = decideIsolation(
      o.isolation ?? "auto",
      { stateDir: ownsState ? dirname(stateDir) : stateDir, cwd },
      (reason) => {
        throw new LocalError(
          "LOCAL_ISOLATION_UNAVAILABLE",
          `podplug run: --isolation uid is not possible here: ${reason}. Use --isolation auto or none.`,
        );
      },
    );
    if (ownsState && isolation.perPluginUser) chmodSync(stateDir, 0o711);
    const port = o.metricsPort ?? 9464;
    if (port >= 0) {
      const m = await serveMetrics(metrics, port);
      server = m.server;
      metricsUrl = m.url;
    }
    const backoff = o.backoff ?? {
      firstMs: 0,
      initialMs: 1000,
      maxMs: 30_000,
      resetAfterMs: 60_000,
      crashLoopAfter: 3,
    };
    for (const host of manifests.hosts) {
      const plugins = manifests.matches.get(host) ?? [];
      const template = injectInto(host, plugins);
      const opts = {
        name: host.name,
        stateDir: join(stateDir, host.name),
        cwd,
        file: host.file,
        log: log.child({ pod: host.name }),
        metrics,
        backoff,
        isolation,
      };
      pods.push(new LocalPod(host.name, await planPod(template, opts), opts));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  if (useView) {
    // Each host that serves metrics on a port named `metrics`: its calls per plugin, in the view only.
    for (const p of pods)
      for (const c of p.containers)
        if (c.spec.metricsPort)
          pollers.push({ pod: p.name, host: c.spec.name, poller: new HostRedPoller(c.spec.metricsPort) });
    for (const p of pollers) p.poller.start();
    const red = (): HostRed[] => pollers.map((p) => ({ pod: p.pod, host: p.host, plugins: p.poller.figures() }));
    view = new LiveView(
      pods,
      process.stdout,
      `podplug run (pid ${process.pid}) — ${pods.length} pod(s), state in ${stateDir}${metricsUrl ? `, metrics on ${metricsUrl}` : ""}, ` +
        `${isolation.perPluginUser ? "each plugin as its own user" : "plugins not isolated"}. Ctrl-C stops.`,
      red,
    );
    view.start();
  }
  log.info(
    {
      runtimePid: process.pid,
      stateDir,
      metricsUrl,
      pods: pods.map((p) => p.name),
      plugins: manifests.plugins.map((p) => p.plugin.metadata.name),
      isolation: isolation.perPluginUser ? "uid" : "none",
      ...(isolation.reason ? { isolationReason: isolation.reason } : {}),
    },
    "podplug run starting",
  );
  if (!isolation.perPluginUser)
    log.warn(
      { reason: isolation.reason },
      "plugins are not isolated from each other: each can reach the others' sockets (docs/local-runtime.md)",
    );
  try {
    for (const p of pods) await p.start();
  } catch (err) {
    await stop();
    throw err;
  }
  const r: LocalRun = { pods, stateDir, metrics, isolation, stop };
  if (metricsUrl) r.metricsUrl = metricsUrl;
  return r;
}
