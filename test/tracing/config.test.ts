/** The OTEL_* parser: off by default, standard values, and every malformed value a warning with its default. */
import assert from "node:assert/strict";
import { tracingSettings } from "../../src/tracing/config.ts";

const on = { OTEL_TRACES_EXPORTER: "otlp" };

describe("tracing: OTEL_* configuration", () => {
  it("is off with no variables, with OTEL_TRACES_EXPORTER=none, and with OTEL_SDK_DISABLED=true", () => {
    for (const env of [
      {},
      { OTEL_SERVICE_NAME: "x" },
      { OTEL_TRACES_EXPORTER: "none" },
      { ...on, OTEL_SDK_DISABLED: "true" },
    ]) {
      const s = tracingSettings(env, "svc");
      assert.equal(s.config, undefined, JSON.stringify(env));
      assert.deepEqual(s.warnings, []);
    }
  });

  it("reads the standard variables", () => {
    const s = tracingSettings(
      {
        ...on,
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
        OTEL_SERVICE_NAME: "shop",
        OTEL_BSP_SCHEDULE_DELAY: "0",
        OTEL_BSP_MAX_QUEUE_SIZE: "100",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "10",
        OTEL_BSP_EXPORT_TIMEOUT: "1000",
      },
      "svc",
    );
    assert.deepEqual(s.warnings, []);
    assert.deepEqual(s.config, {
      exporter: "otlp",
      sampler: "parentbased_traceidratio",
      ratio: 0.25,
      serviceName: "shop",
      scheduleDelayMs: 0,
      maxQueueSize: 100,
      maxExportBatchSize: 10,
      exportTimeoutMs: 1000,
    });
  });

  it("defaults: parentbased_always_on, ratio 1, the caller's service name, the batch processor's defaults", () => {
    const s = tracingSettings(on, "podplug-host");
    assert.deepEqual(s.config, {
      exporter: "otlp",
      sampler: "parentbased_always_on",
      ratio: 1,
      serviceName: "podplug-host",
      scheduleDelayMs: 5000,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
      exportTimeoutMs: 30_000,
    });
  });

  const BAD: [
    string,
    NodeJS.ProcessEnv,
    RegExp,
    (c: NonNullable<ReturnType<typeof tracingSettings>["config"]>) => void,
  ][] = [
    [
      "an unknown sampler",
      { OTEL_TRACES_SAMPLER: "sometimes" },
      /OTEL_TRACES_SAMPLER="sometimes" is not one of .*: using parentbased_always_on/,
      (c) => assert.equal(c.sampler, "parentbased_always_on"),
    ],
    [
      "a ratio above 1",
      { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" },
      /OTEL_TRACES_SAMPLER_ARG="1.5" is not a ratio in \[0, 1\]: using 1/,
      (c) => assert.equal(c.ratio, 1),
    ],
    [
      "a ratio that is no number",
      { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "half" },
      /"half" is not a ratio/,
      (c) => assert.equal(c.ratio, 1),
    ],
    [
      "a queue size that is no number",
      { OTEL_BSP_MAX_QUEUE_SIZE: "lots" },
      /OTEL_BSP_MAX_QUEUE_SIZE="lots" is not a whole number ≥ 1: using 2048/,
      (c) => assert.equal(c.maxQueueSize, 2048),
    ],
    [
      "a negative delay",
      { OTEL_BSP_SCHEDULE_DELAY: "-5" },
      /OTEL_BSP_SCHEDULE_DELAY="-5" is not a whole number ≥ 0: using 5000/,
      (c) => assert.equal(c.scheduleDelayMs, 5000),
    ],
    [
      "a batch larger than the queue",
      { OTEL_BSP_MAX_QUEUE_SIZE: "10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "50" },
      /exceeds OTEL_BSP_MAX_QUEUE_SIZE \(10\): using 10/,
      (c) => assert.equal(c.maxExportBatchSize, 10),
    ],
    [
      "an OTLP protocol podplug does not speak",
      { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      /OTLP protocol "grpc" is not supported: podplug exports http\/protobuf/,
      (c) => assert.equal(c.exporter, "otlp"),
    ],
    [
      "an unknown exporter beside a known one",
      { OTEL_TRACES_EXPORTER: "zipkin,otlp" },
      /"zipkin", which podplug does not have .*: using otlp/,
      (c) => assert.equal(c.exporter, "otlp"),
    ],
  ];
  for (const [what, env, message, check] of BAD)
    it(`${what}: one warning, the default, and tracing still on`, () => {
      const s = tracingSettings({ ...on, ...env }, "svc");
      assert.equal(s.warnings.length, 1, s.warnings.join("\n"));
      assert.match(s.warnings[0]!, message);
      assert.ok(s.config);
      check(s.config);
    });

  it("an exporter podplug does not have, alone: a warning and tracing off", () => {
    const s = tracingSettings({ OTEL_TRACES_EXPORTER: "jaeger" }, "svc");
    assert.equal(s.config, undefined);
    assert.match(
      s.warnings[0]!,
      /"jaeger", which podplug does not have \(it has otlp, console, none\): tracing stays off/,
    );
  });
});
