/**
 * Traces across host, plugin and broker callback, read back from a real
 * Jaeger: the TS counter example (host → plugin Put → callback Sum into the
 * host) is one trace with the right parent links; tracing off sends nothing;
 * a malformed OTEL_* variable is one warning; an unreachable backend never
 * fails a call.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "../cluster/binaries.ts";
import { freePort } from "../cluster/ports.ts";
import { NODE, ROOT, tempDir } from "../helpers.ts";
import { Jaeger, type JaegerSpan, type JaegerTrace } from "./jaeger.ts";

const HOST = join(ROOT, "examples/counter/host.ts");

/** Runs the counter example's host once (`put key n`) with `env`; its exit code and output. */
function runCounter(
  env: NodeJS.ProcessEnv,
  key: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const t = tempDir("pp-trace-");
  return new Promise((resolve, reject) => {
    const p = spawn(NODE, [HOST, "put", key, "3"], {
      cwd: ROOT,
      env: { ...process.env, KV_DIR: t.dir, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      t.remove();
      resolve({ code, stdout, stderr });
    });
  });
}

const tag = (s: JaegerSpan, key: string): unknown => s.tags.find((t) => t.key === key)?.value;
const service = (t: JaegerTrace, s: JaegerSpan): string => t.processes[s.processID]?.serviceName ?? "";
const parentOf = (s: JaegerSpan): string | undefined => s.references.find((r) => r.refType === "CHILD_OF")?.spanID;

function find(t: JaegerTrace, name: string, kind: "client" | "server", svc: string): JaegerSpan {
  const s = t.spans.find((x) => x.operationName === name && tag(x, "span.kind") === kind && service(t, x) === svc);
  assert.ok(
    s,
    `no ${kind} span ${name} of ${svc} in: ${t.spans.map((x) => `${service(t, x)}:${x.operationName}:${tag(x, "span.kind")}`).join(", ")}`,
  );
  return s;
}

describe("tracing: host, plugin and callback in one trace (a real Jaeger)", function () {
  this.timeout(120_000);
  let jaeger: Jaeger;
  const otel = (svc: string): NodeJS.ProcessEnv => ({
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
    OTEL_SERVICE_NAME: svc,
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });

  before(async function () {
    this.timeout(90_000);
    jaeger = await Jaeger.start();
  });
  after(async () => {
    await jaeger?.stop();
  });

  it("host → TS plugin → broker callback → host: four spans, each the child of the one before", async () => {
    // The plugin inherits the host's environment (go-plugin's default): it is the service below.
    const r = await runCounter({ ...otel("counter-app") }, "traced");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const t = await jaeger.waitForTrace("counter-app", (x) => x.spans.length >= 4);
    const put = find(t, "proto.Counter/Put", "client", "counter-app");
    const served = t.spans.find((x) => x.operationName === "proto.Counter/Put" && tag(x, "span.kind") === "server");
    assert.ok(served, "the plugin's server span");
    const sum = t.spans.find((x) => x.operationName === "proto.AddHelper/Sum" && tag(x, "span.kind") === "client");
    const sumServed = t.spans.find(
      (x) => x.operationName === "proto.AddHelper/Sum" && tag(x, "span.kind") === "server",
    );
    assert.ok(sum && sumServed, "the callback's client and server spans");
    assert.equal(parentOf(put), undefined, "the host's call is the root");
    assert.equal(parentOf(served), put.spanID, "plugin's span is the child of the host's call");
    assert.equal(parentOf(sum), served.spanID, "the callback is made inside the plugin's handler");
    assert.equal(parentOf(sumServed), sum.spanID, "the host serves the callback as its child");
    for (const s of [put, served, sum, sumServed]) {
      assert.equal(tag(s, "rpc.system"), "grpc");
      assert.equal(tag(s, "rpc.grpc.status_code"), 0);
    }
    assert.equal(tag(put, "podplug.plugin"), "counter");
    assert.equal(tag(put, "rpc.service"), "proto.Counter");
    assert.equal(tag(put, "rpc.method"), "Put");
    assert.ok(new Set(t.spans.map((s) => s.traceID)).size === 1);
  });

  it("host → Go plugin instrumented with otelgrpc → callback → host: one trace across both languages", async () => {
    const peer = join(cacheDir(), "go-peers", "otel-counter");
    assert.ok(existsSync(peer), `${peer}: run make tracing-deps`);
    const r = await runCounter({ ...otel("counter-go"), COUNTER_PLUGIN: peer }, "go");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const t = await jaeger.waitForTrace("counter-go", (x) => x.spans.length >= 4);
    const put = find(t, "proto.Counter/Put", "client", "counter-go");
    const byKind = (name: string, kind: string): JaegerSpan | undefined =>
      t.spans.find((x) => x.operationName === name && tag(x, "span.kind") === kind);
    const served = byKind("proto.Counter/Put", "server");
    const sum = byKind("proto.AddHelper/Sum", "client");
    const sumServed = byKind("proto.AddHelper/Sum", "server");
    assert.ok(served && sum && sumServed, t.spans.map((x) => `${x.operationName}:${tag(x, "span.kind")}`).join(", "));
    assert.equal(parentOf(served), put.spanID, "the Go plugin continues the TS host's trace");
    assert.equal(parentOf(sum), served.spanID, "its callback is a child of its handler's span");
    assert.equal(parentOf(sumServed), sum.spanID, "the TS host serves the Go plugin's callback as its child");
    assert.match(String(tag(served, "otel.scope.name") ?? ""), /otelgrpc/, "the Go side's spans come from otelgrpc");
  });

  it("with tracing off, nothing is exported (OTEL_SERVICE_NAME alone turns nothing on)", async () => {
    const r = await runCounter(
      { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint, OTEL_SERVICE_NAME: "counter-off" },
      "off",
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The host flushes before it exits when tracing is on; so absence now is absence.
    assert.deepEqual(await jaeger.traces("counter-off"), []);
  });

  it("a malformed OTEL_* variable is one clear warning; the call and its trace go on", async () => {
    const r = await runCounter({ ...otel("counter-warned"), OTEL_TRACES_SAMPLER: "sometimes" }, "warned");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const warnings = r.stderr.split("\n").filter((l) => l.includes("OTEL_TRACES_SAMPLER"));
    assert.ok(warnings.length >= 1, r.stderr);
    // The host's own line, and the plugin's (its hclog line, relayed by the host with its source).
    const hostWarnings = warnings.filter((l) => l.includes('"code":"TRACING_CONFIG"') && !l.includes('"source":'));
    const pluginWarnings = warnings.filter(
      (l) => l.includes('"code":"TRACING_CONFIG"') && l.includes('"source":"hclog"'),
    );
    assert.equal(hostWarnings.length, 1, `one warning from the host: ${warnings.join("\n")}`);
    assert.equal(pluginWarnings.length, 1, `one warning from the plugin: ${warnings.join("\n")}`);
    assert.match(hostWarnings[0]!, /is not one of always_on, .*: using parentbased_always_on/);
    await jaeger.waitForTrace("counter-warned", (x) => x.spans.length >= 4);
  });

  it("an unreachable trace backend never fails or blocks a call", async () => {
    const closed = await freePort();
    const r = await runCounter(
      { ...otel("counter-unreachable"), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}` },
      "unreachable",
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /Error/);
  });
});
