/**
 * Tracing configuration from the standard `OTEL_*` environment variables.
 * Off unless `OTEL_TRACES_EXPORTER` names an exporter (the OpenTelemetry
 * default is `otlp`; podplug keeps tracing off until asked, so it costs
 * nothing by default). A malformed variable is a warning and its default,
 * never a crash.
 */

/** Which spans are recorded (OTEL_TRACES_SAMPLER). */
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

const SAMPLERS: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/** Resolved tracing settings. */
export interface TracingConfig {
  exporter: "otlp" | "console";
  sampler: SamplerName;
  /** The ratio of the `*traceidratio` samplers, 0..1. */
  ratio: number;
  serviceName: string;
  /** Batch span processor: OTEL_BSP_SCHEDULE_DELAY, _MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE, _EXPORT_TIMEOUT. */
  scheduleDelayMs: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMs: number;
}

/** The configuration, or why tracing is off, and the warnings to log once. */
export interface TracingSettings {
  config: TracingConfig | undefined;
  warnings: string[];
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, warnings: string[], min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min) {
    warnings.push(`${name}=${JSON.stringify(raw)} is not a whole number ≥ ${min}: using ${fallback}`);
    return fallback;
  }
  return Number(raw);
}

/** Reads the `OTEL_*` variables of `env`; `defaultServiceName` applies without OTEL_SERVICE_NAME. */
export function tracingSettings(env: NodeJS.ProcessEnv, defaultServiceName: string): TracingSettings {
  const warnings: string[] = [];
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return { config: undefined, warnings };
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.length === 0 || exporters.includes("none")) return { config: undefined, warnings };
  const known = exporters.filter((e): e is "otlp" | "console" => e === "otlp" || e === "console");
  const unknown = exporters.filter((e) => e !== "otlp" && e !== "console");
  if (unknown.length > 0)
    warnings.push(
      `OTEL_TRACES_EXPORTER names ${unknown.map((u) => JSON.stringify(u)).join(", ")}, which podplug does not have (it has otlp, console, none)${known.length ? `: using ${known[0]}` : ": tracing stays off"}`,
    );
  if (known.length === 0) return { config: undefined, warnings };
  if (known.length > 1)
    warnings.push(`OTEL_TRACES_EXPORTER names ${known.join(" and ")}: podplug uses one, ${known[0]}`);

  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim();
  if (known[0] === "otlp" && protocol !== "" && protocol !== "http/protobuf")
    warnings.push(`OTLP protocol ${JSON.stringify(protocol)} is not supported: podplug exports http/protobuf`);

  let sampler: SamplerName = "parentbased_always_on";
  const rawSampler = (env.OTEL_TRACES_SAMPLER ?? "").trim().toLowerCase();
  if (rawSampler !== "") {
    if ((SAMPLERS as readonly string[]).includes(rawSampler)) sampler = rawSampler as SamplerName;
    else
      warnings.push(
        `OTEL_TRACES_SAMPLER=${JSON.stringify(env.OTEL_TRACES_SAMPLER)} is not one of ${SAMPLERS.join(", ")}: using parentbased_always_on`,
      );
  }
  let ratio = 1;
  const rawArg = env.OTEL_TRACES_SAMPLER_ARG;
  if (rawArg !== undefined && rawArg.trim() !== "" && sampler.endsWith("traceidratio")) {
    const n = Number(rawArg);
    if (Number.isFinite(n) && n >= 0 && n <= 1) ratio = n;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(rawArg)} is not a ratio in [0, 1]: using 1`);
  }

  const maxQueueSize = positiveInt(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, warnings);
  let maxExportBatchSize = positiveInt(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, warnings);
  if (maxExportBatchSize > maxQueueSize) {
    warnings.push(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE (${maxExportBatchSize}) exceeds OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize}): using ${maxQueueSize}`,
    );
    maxExportBatchSize = maxQueueSize;
  }
  return {
    config: {
      exporter: known[0]!,
      sampler,
      ratio,
      serviceName: env.OTEL_SERVICE_NAME?.trim() || defaultServiceName,
      scheduleDelayMs: positiveInt(env, "OTEL_BSP_SCHEDULE_DELAY", 5000, warnings, 0),
      maxQueueSize,
      maxExportBatchSize,
      exportTimeoutMs: positiveInt(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, warnings),
    },
    warnings,
  };
}
