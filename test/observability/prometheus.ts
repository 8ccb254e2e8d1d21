/**
 * A real Prometheus (Debian's package, tools/install-prometheus.sh) for the
 * observability tests: started on loopback with a scrape config of the test's
 * own targets, queried through its HTTP API as a user's dashboards and alerts
 * would be, and stopped with its data folder removed. On the test node it runs
 * inside the node's network namespace (so it reaches only addresses there) and
 * the test reaches its API through a Unix socket (netns-bridge.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cacheDir, pinnedVersion } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";
import { NODE } from "../helpers.ts";

/** The server and promtool, as the Debian package installs them. */
export const PROMETHEUS_BIN = process.env.PODPLUG_PROMETHEUS ?? "/usr/bin/prometheus";
export const PROMTOOL_BIN = process.env.PODPLUG_PROMTOOL ?? "/usr/bin/promtool";

/**
 * The same release built from the Go proxy with Kubernetes service discovery,
 * which Debian's build leaves out (tools/build-prometheus.sh; make test-deps builds it).
 */
export function prometheusWithSd(): string {
  const bin = join(cacheDir(), "prometheus", pinnedVersion("PODPLUG_PROMETHEUS_VERSION"), "prometheus");
  if (!existsSync(bin))
    throw new HarnessError(
      "CLUSTER_BINARY_MISSING",
      `${bin} is missing: run tools/build-prometheus.sh (make prometheus-sd)`,
    );
  return bin;
}

/** One static scrape job: `targets` are `127.0.0.1:<port>` addresses. */
export interface ScrapeJob {
  job: string;
  targets: string[];
  labels?: Record<string, string>;
  metricsPath?: string;
}

/** One sample of an instant query's vector result. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

interface ApiResponse<T> {
  status: "success" | "error";
  data?: T;
  errorType?: string;
  error?: string;
}

/** Where and how Prometheus runs. */
export interface PrometheusOptions {
  /** Scrape configs as Prometheus reads them (`scrape_configs` entries). */
  scrapeConfigs: Record<string, unknown>[];
  ruleFiles?: string[];
  /**
   * Runs it inside the network namespace at this path (`/run/netns/<name>`): it listens
   * on that namespace's 127.0.0.1 and the test reaches it through a Unix socket.
   */
  netns?: string;
  /** The server binary; default PROMETHEUS_BIN. */
  bin?: string;
  /** Files to write beside the config first (name → content), e.g. a token; their paths are `<dir>/<name>`. */
  files?: Record<string, string>;
}

/** What `files` became: the folder they were written to. */
export type FilesAt = (name: string) => string;

/** A running Prometheus. */
export class Prometheus {
  /** Its base URL as Prometheus itself sees it (in a netns: that namespace's loopback). */
  readonly url: string;
  private readonly dir: string;
  private readonly procs: ManagedProcess[];
  /** The Unix socket that reaches it from here, when it runs in a netns. */
  private readonly socketPath: string | undefined;

  private constructor(url: string, dir: string, procs: ManagedProcess[], socketPath?: string) {
    this.url = url;
    this.dir = dir;
    this.procs = procs;
    this.socketPath = socketPath;
  }

  /**
   * Starts Prometheus scraping `jobs` every second, with `ruleFiles` loaded
   * (evaluated every second), and waits until it is ready.
   */
  static start(jobs: ScrapeJob[], ruleFiles: string[] = []): Promise<Prometheus> {
    return Prometheus.startWith({
      ruleFiles,
      scrapeConfigs: jobs.map((j) => ({
        job_name: j.job,
        metrics_path: j.metricsPath ?? "/metrics",
        static_configs: [{ targets: j.targets, labels: j.labels ?? {} }],
      })),
    });
  }

  /** Starts Prometheus with `o` (scrape and evaluate every second) and waits until it is ready. */
  static async startWith(o: PrometheusOptions | ((at: FilesAt) => PrometheusOptions)): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), "podplug-prom-"));
    const at: FilesAt = (name) => join(dir, name);
    const opts = typeof o === "function" ? o(at) : o;
    for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(at(name), content, { mode: 0o600 });
    const config = {
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      rule_files: opts.ruleFiles ?? [],
      scrape_configs: opts.scrapeConfigs,
    };
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    // Inside a netns its own loopback is free but for what the node runs there, which has no 9090.
    const port = opts.netns ? 9090 : await freePort();
    const netPrefix = opts.netns ? ["nsenter", `--net=${opts.netns}`, "--"] : [];
    const argv = [
      ...netPrefix,
      opts.bin ?? PROMETHEUS_BIN,
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
    ];
    const procs = [new ManagedProcess("prometheus", argv[0]!, argv.slice(1), join(dir, "prometheus.log"))];
    let socketPath: string | undefined;
    if (opts.netns) {
      socketPath = join(dir, "api.sock");
      const bridge = [...netPrefix, NODE, join(import.meta.dirname, "netns-bridge.ts"), socketPath, String(port)];
      procs.push(new ManagedProcess("netns-bridge", bridge[0]!, bridge.slice(1), join(dir, "bridge.log")));
    }
    const p = new Prometheus(`http://127.0.0.1:${port}`, dir, procs, socketPath);
    try {
      await waitFor(
        "prometheus ready",
        async () => {
          for (const x of procs) x.assertRunning();
          return (await p.get("/-/ready", 1000).catch(() => ({ status: 0 }))).status === 200;
        },
        30_000,
        200,
      );
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  /** GET `path` of its API: over TCP on loopback, or through the bridge's Unix socket. */
  private get(path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
    if (!this.socketPath)
      return fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, timeout: timeoutMs, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`prometheus ${path}: no answer in ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  }

  private async api<T>(path: string, timeoutMs = 5000): Promise<ApiResponse<T>> {
    const r = await this.get(path, timeoutMs);
    try {
      return JSON.parse(r.body) as ApiResponse<T>;
    } catch {
      return { status: "error", errorType: `HTTP ${r.status}`, error: r.body.slice(0, 200) };
    }
  }

  /** An instant query; its vector result (a scalar becomes one sample without labels). */
  async query(expr: string): Promise<Sample[]> {
    const body = await this.api<{ resultType: string; result: unknown }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    if (body.status !== "success" || !body.data) {
      throw new HarnessError(
        "CLUSTER_COMMAND_FAILED",
        `prometheus query ${expr} failed: ${body.errorType}: ${body.error}`,
        { expr },
      );
    }
    const { resultType, result } = body.data;
    if (resultType === "scalar") return [{ metric: {}, value: Number((result as [number, string])[1]) }];
    if (resultType !== "vector")
      throw new HarnessError("CLUSTER_COMMAND_FAILED", `prometheus query ${expr}: ${resultType}, not a vector`);
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  }

  /** A range query: each series' labels and its [unix seconds, value] points. */
  async queryRange(
    expr: string,
    startS: number,
    endS: number,
    stepS: number,
  ): Promise<{ metric: Record<string, string>; values: [number, number][] }[]> {
    const q = new URLSearchParams({ query: expr, start: String(startS), end: String(endS), step: String(stepS) });
    const body = await this.api<{
      result: { metric: Record<string, string>; values: [number, string][] }[];
    }>(`/api/v1/query_range?${q}`, 10_000);
    if (body.status !== "success" || !body.data)
      throw new HarnessError(
        "CLUSTER_COMMAND_FAILED",
        `prometheus query_range ${expr}: ${body.errorType}: ${body.error}`,
      );
    return body.data.result.map((s) => ({ metric: s.metric, values: s.values.map(([t, v]) => [t, Number(v)]) }));
  }

  /** Polls `expr` until `accept` holds for its samples (bounded by `timeoutMs`). */
  waitFor(expr: string, accept: (s: Sample[]) => boolean, timeoutMs = 30_000): Promise<Sample[]> {
    return waitFor(
      `prometheus: ${expr}`,
      async () => {
        const s = await this.query(expr);
        return accept(s) ? s : undefined;
      },
      timeoutMs,
      500,
    );
  }

  /** The scrape targets and their health, as `GET /api/v1/targets` reports them. */
  async targets(): Promise<{ job: string; health: string; lastError: string; labels: Record<string, string> }[]> {
    const body = await this.api<{
      activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
    }>("/api/v1/targets");
    return (body.data?.activeTargets ?? []).map((t) => ({
      job: t.labels.job ?? "",
      health: t.health,
      lastError: t.lastError,
      labels: t.labels,
    }));
  }

  /** The loaded rule groups with each rule's health, as `GET /api/v1/rules` reports them. */
  async rules(): Promise<{ group: string; name: string; type: string; health: string; lastError?: string }[]> {
    const body = await this.api<{
      groups: { name: string; rules: { name: string; type: string; health: string; lastError?: string }[] }[];
    }>("/api/v1/rules");
    return (body.data?.groups ?? []).flatMap((g) =>
      g.rules.map((x) => ({ group: g.name, name: x.name, type: x.type, health: x.health, lastError: x.lastError })),
    );
  }

  /** The last lines of its log, for failure messages. */
  tail(): string {
    return this.procs.map((p) => p.tail(30)).join("\n");
  }

  /** Stops the server (and its bridge) and removes its config and data. */
  async stop(): Promise<void> {
    for (const p of this.procs) await p.stop(5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs promtool with `args`; returns its exit status and output (it never throws on a non-zero exit). */
export function promtool(args: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(PROMTOOL_BIN, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}
