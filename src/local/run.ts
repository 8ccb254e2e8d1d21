/**
 * `podplug run`: the same Plugin manifests a cluster gets, run on one machine.
 * Manifests → the operator's injection function → local processes sharing a
 * socket folder, probed and restarted as the kubelet would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";
import { inject } from "../inject/inject.ts";
import type { BackoffOptions } from "../process/backoff.ts";
import { loadManifests } from "./manifests.ts";
import { type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";
import { LocalPod, planPod } from "./pod.ts";
import { LiveView } from "./view.ts";

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
}

/** A running local run. */
export interface LocalRun {
  pods: LocalPod[];
  stateDir: string;
  metrics: RuntimeMetrics;
  /** `http://127.0.0.1:<port>/metrics`, when served. */
  metricsUrl?: string;
  /** Graceful stop: hosts first, then sidecars in reverse; removes the state folder if it made it. */
  stop(): Promise<void>;
}

/** Loads, injects and starts everything; rejects with a coded error on bad manifests. */
export async function run(o: RunOptions): Promise<LocalRun> {
  const manifests = loadManifests(o.files);
  const ownsState = o.stateDir === undefined;
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), "pp-run-"));
  const metrics = runtimeMetrics();
  const useView = o.view ?? process.stdout.isTTY === true;
  let view: LiveView | undefined;
  const log =
    o.logger ??
    (useView
      ? pino(
          { level: "info" },
          new Writable({
            write(chunk: Buffer, _e, cb) {
              for (const l of chunk.toString().split("\n")) {
                if (!l) continue;
                const r = JSON.parse(l) as { msg?: string; container?: string; level?: number };
                view?.log(`${r.container ? `[${r.container}] ` : ""}${r.msg ?? ""}`);
              }
              cb();
            },
          }),
        )
      : pino({ level: "info" }));
  for (const s of manifests.skipped) log.warn({ object: s }, "not run locally");
  const backoff = o.backoff ?? { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000, crashLoopAfter: 3 };
  const pods: LocalPod[] = [];
  for (const host of manifests.hosts) {
    const plugins = manifests.matches.get(host) ?? [];
    const template = inject(host.template, plugins);
    const opts = {
      name: host.name,
      stateDir: join(stateDir, host.name),
      cwd: resolve(o.cwd ?? process.cwd()),
      file: host.file,
      log: log.child({ pod: host.name }),
      metrics,
      backoff,
    };
    pods.push(new LocalPod(host.name, await planPod(template, opts), opts));
  }
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  const port = o.metricsPort ?? 9464;
  if (port >= 0) {
    server = createServer((req, res) => {
      if (req.url === "/metrics") {
        void metrics.registry.metrics().then((text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        });
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r, j) => {
      server!.once("error", j);
      server!.listen(port, "127.0.0.1", () => r());
    });
    const a = server.address();
    metricsUrl = `http://127.0.0.1:${typeof a === "object" && a ? a.port : port}/metrics`;
  }
  if (useView) {
    view = new LiveView(
      pods,
      process.stdout,
      `podplug run — ${pods.length} pod(s), state in ${stateDir}${metricsUrl ? `, metrics on ${metricsUrl}` : ""}. Ctrl-C stops.`,
    );
    view.start();
  }
  log.info(
    {
      stateDir,
      metricsUrl,
      pods: pods.map((p) => p.name),
      plugins: manifests.plugins.map((p) => p.plugin.metadata.name),
    },
    "podplug run starting",
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info("stopping: hosts first, then plugins");
      for (const p of pods) await p.stop();
      server?.close();
      server?.closeAllConnections();
      view?.stop();
      if (ownsState) rmSync(stateDir, { recursive: true, force: true });
      log.info("stopped");
    })());
  try {
    for (const p of pods) await p.start();
  } catch (err) {
    await stop();
    throw err;
  }
  const r: LocalRun = { pods, stateDir, metrics, stop };
  if (metricsUrl) r.metricsUrl = metricsUrl;
  return r;
}
