/**
 * A real Prometheus (Debian's package, tools/install-prometheus.sh) for the
 * observability tests: started on loopback with a scrape config of the test's
 * own targets, queried through its HTTP API as a user's dashboards and alerts
 * would be, and stopped with its data folder removed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { HarnessError } from "../cluster/errors.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";

/** The server and promtool, as the Debian package installs them. */
export const PROMETHEUS_BIN = process.env.PODPLUG_PROMETHEUS ?? "/usr/bin/prometheus";
export const PROMTOOL_BIN = process.env.PODPLUG_PROMTOOL ?? "/usr/bin/promtool";

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

/** A running Prometheus on 127.0.0.1. */
export class Prometheus {
  readonly url: string;
  private readonly dir: string;
  private readonly proc: ManagedProcess;

  private constructor(url: string, dir: string, proc: ManagedProcess) {
    this.url = url;
    this.dir = dir;
    this.proc = proc;
  }

  /**
   * Starts Prometheus scraping `jobs` every second, with `ruleFiles` loaded
   * (evaluated every second), and waits until it is ready.
   */
  static async start(jobs: ScrapeJob[], ruleFiles: string[] = []): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), "podplug-prom-"));
    const config = {
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      rule_files: ruleFiles,
      scrape_configs: jobs.map((j) => ({
        job_name: j.job,
        metrics_path: j.metricsPath ?? "/metrics",
        static_configs: [{ targets: j.targets, labels: j.labels ?? {} }],
      })),
    };
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    const port = await freePort();
    const proc = new ManagedProcess(
      "prometheus",
      PROMETHEUS_BIN,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
      ],
      join(dir, "prometheus.log"),
    );
    const p = new Prometheus(`http://127.0.0.1:${port}`, dir, proc);
    try {
      await waitFor(
        "prometheus ready",
        async () => {
          proc.assertRunning();
          const r = await fetch(`${p.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
          return r.ok;
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

  /** An instant query; its vector result (a scalar becomes one sample without labels). */
  async query(expr: string): Promise<Sample[]> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
      signal: AbortSignal.timeout(5000),
    });
    const body = (await r.json()) as ApiResponse<{ resultType: string; result: unknown }>;
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
  async targets(): Promise<{ job: string; health: string; lastError: string }[]> {
    const r = await fetch(`${this.url}/api/v1/targets`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as ApiResponse<{
      activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
    }>;
    return (body.data?.activeTargets ?? []).map((t) => ({
      job: t.labels.job ?? "",
      health: t.health,
      lastError: t.lastError,
    }));
  }

  /** The loaded rule groups with each rule's health, as `GET /api/v1/rules` reports them. */
  async rules(): Promise<{ group: string; name: string; type: string; health: string; lastError?: string }[]> {
    const r = await fetch(`${this.url}/api/v1/rules`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as ApiResponse<{
      groups: { name: string; rules: { name: string; type: string; health: string; lastError?: string }[] }[];
    }>;
    return (body.data?.groups ?? []).flatMap((g) =>
      g.rules.map((x) => ({ group: g.name, name: x.name, type: x.type, health: x.health, lastError: x.lastError })),
    );
  }

  /** The last lines of its log, for failure messages. */
  tail(): string {
    return this.proc.tail(30);
  }

  /** Stops the server and removes its config and data. */
  async stop(): Promise<void> {
    await this.proc.stop(5000);
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
