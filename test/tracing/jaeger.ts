/**
 * A real trace backend for the tracing tests: Jaeger's all-in-one (v2, on the
 * OpenTelemetry Collector), built from the Go module proxy by
 * tools/build-jaeger.sh into the cache. Started on loopback with in-memory
 * storage, an OTLP/HTTP receiver and its query API; traces are read back
 * through that API, as a user's Jaeger UI reads them.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cacheDir, pinnedVersion } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";

/** One span as Jaeger's query API returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
  processID: string;
  logs: { fields: { key: string; value: unknown }[] }[];
}

/** One trace: its spans and the service name of each process. */
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

/** The built binary (make test builds it: mk/tracing.mk). */
export function jaegerBinary(): string {
  const bin = join(cacheDir(), "jaeger", pinnedVersion("PODPLUG_JAEGER_VERSION"), "jaeger");
  if (!existsSync(bin))
    throw new HarnessError(
      "CLUSTER_BINARY_MISSING",
      `${bin} is missing: run tools/build-jaeger.sh (make tracing-deps)`,
    );
  return bin;
}

/** A running Jaeger on 127.0.0.1. */
export class Jaeger {
  /** Where OTLP/HTTP exporters send traces (OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly otlpEndpoint: string;
  private readonly queryUrl: string;
  private readonly dir: string;
  private readonly proc: ManagedProcess;

  private constructor(otlpEndpoint: string, queryUrl: string, dir: string, proc: ManagedProcess) {
    this.otlpEndpoint = otlpEndpoint;
    this.queryUrl = queryUrl;
    this.dir = dir;
    this.proc = proc;
  }

  static async start(): Promise<Jaeger> {
    const dir = mkdtempSync(join(tmpdir(), "podplug-jaeger-"));
    const [otlp, query, queryGrpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const config = {
      service: {
        extensions: ["jaeger_storage", "jaeger_query", "healthcheckv2"],
        pipelines: { traces: { receivers: ["otlp"], processors: ["batch"], exporters: ["jaeger_storage_exporter"] } },
        telemetry: { metrics: { level: "none" }, logs: { level: "info" } },
      },
      extensions: {
        healthcheckv2: { use_v2: true, http: { endpoint: `127.0.0.1:${health}` } },
        jaeger_query: {
          storage: { traces: "mem" },
          http: { endpoint: `127.0.0.1:${query}` },
          grpc: { endpoint: `127.0.0.1:${queryGrpc}` },
        },
        jaeger_storage: { backends: { mem: { memory: { max_traces: 10_000 } } } },
      },
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${otlp}` } } } },
      processors: { batch: { timeout: "100ms" } },
      exporters: { jaeger_storage_exporter: { trace_storage: "mem" } },
    };
    writeFileSync(join(dir, "config.yaml"), stringify(config));
    const proc = new ManagedProcess(
      "jaeger",
      jaegerBinary(),
      ["--config", join(dir, "config.yaml")],
      join(dir, "jaeger.log"),
    );
    const j = new Jaeger(`http://127.0.0.1:${otlp}`, `http://127.0.0.1:${query}`, dir, proc);
    try {
      await waitFor(
        "jaeger's query API",
        async () => {
          proc.assertRunning();
          const r = await fetch(`${j.queryUrl}/api/services`, { signal: AbortSignal.timeout(1000) });
          return r.ok;
        },
        60_000,
        200,
      );
    } catch (err) {
      const tail = proc.tail(30);
      await j.stop();
      throw new HarnessError("CLUSTER_START_FAILED", `${(err as Error).message}\n${tail}`);
    }
    return j;
  }

  /** The traces that have a span of `service`, newest first. */
  async traces(service: string): Promise<JaegerTrace[]> {
    const r = await fetch(`${this.queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=50`, {
      signal: AbortSignal.timeout(5000),
    });
    if (r.status === 404 || r.status === 400) return [];
    const body = (await r.json()) as { data: JaegerTrace[] | null };
    return body.data ?? [];
  }

  /** Polls until `accept` finds what it wants among `service`'s traces. */
  waitForTrace(service: string, accept: (t: JaegerTrace) => boolean, timeoutMs = 30_000): Promise<JaegerTrace> {
    return waitFor(`a trace of ${service}`, async () => (await this.traces(service)).find(accept), timeoutMs, 300);
  }

  tail(): string {
    return this.proc.tail(30);
  }

  async stop(): Promise<void> {
    await this.proc.stop(5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
