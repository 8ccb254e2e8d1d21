/**
 * What tracing costs on the fast path (TS host → TS plugin kv Get): no
 * tracing code at all (src/tracing stubbed out by a module hook,
 * bench/no-tracing), tracing off (the default), on but sampling nothing, and
 * on sampling every call with spans exported to a real Jaeger. Tracing is set
 * per process, so each variant runs in its own process; the variants
 * alternate over several rounds and the ratios are to "no tracing code" in
 * the same run (off / no code is what "free when off" means).
 *   node bench/tracing.ts [--rounds N]
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Figures, report } from "./lib.ts";

const variant = process.env.PODPLUG_BENCH_TRACING_VARIANT;
if (variant) {
  const { podplugTsToTs } = await import("./sdk.ts");
  const f = await podplugTsToTs();
  // The stub takes no arguments, the real podplugTracing two: which one this process ran.
  const stubbed = (await import("../src/tracing/tracer.ts")).podplugTracing.length === 0;
  process.stdout.write(`${JSON.stringify({ ...f, name: variant, stubbed })}\n`);
  process.exit(0);
}

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
const { Jaeger, jaegerBinary } = await import("../test/tracing/jaeger.ts");
let jaeger: Awaited<ReturnType<typeof Jaeger.start>> | undefined;
try {
  if (existsSync(jaegerBinary())) jaeger = await Jaeger.start();
} catch (err) {
  console.log(`(no Jaeger: ${(err as Error).message.split("\n")[0]}; the exporting variant is skipped)`);
}

const noTracing = `--import=${new URL("./no-tracing/register.ts", import.meta.url).href}`;
const variants: [string, NodeJS.ProcessEnv][] = [
  ["no tracing code (stubbed)", { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${noTracing}`.trim() }],
  ["tracing off (default)", {}],
  [
    "on, sampling nothing", // No span is recorded, so none is sent; the endpoint is loopback all the same.
    {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_TRACES_SAMPLER: "always_off",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
    },
  ],
];
if (jaeger)
  variants.push([
    "on, every call exported to Jaeger",
    {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_TRACES_SAMPLER: "always_on",
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
    },
  ]);

const runs = new Map<string, Figures[]>();
try {
  for (let r = 0; r < rounds; r++)
    for (const [name, env] of variants) {
      const p = spawnSync(process.execPath, [import.meta.filename], {
        env: { ...process.env, ...env, PODPLUG_BENCH_TRACING_VARIANT: name },
        encoding: "utf8",
        timeout: 300_000,
      });
      const line = p.stdout.trim().split("\n").at(-1) ?? "";
      if (p.status !== 0 || !line.startsWith("{")) {
        console.log(`(${name}: exited ${p.status ?? p.signal}: ${p.stderr.slice(-300)})`);
        continue;
      }
      const f = JSON.parse(line) as Figures & { stubbed: boolean };
      if (f.stubbed !== name.startsWith("no tracing code")) {
        console.log(`(${name}: src/tracing was ${f.stubbed ? "" : "not "}stubbed; the round is not counted)`);
        continue;
      }
      runs.set(name, [...(runs.get(name) ?? []), f]);
    }
} finally {
  await jaeger?.stop();
}

/** The median of each figure over the rounds. */
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Figures[] = [...runs].map(([name, fs]) => ({
  name,
  medianUs: median(fs.map((f) => f.medianUs)),
  p99Us: median(fs.map((f) => f.p99Us)),
  throughput: median(fs.map((f) => f.throughput)),
}));
if (rows.length > 0)
  report(`Tracing: TS host → TS plugin kv Get, median of ${rounds} alternating rounds`, rows[0]!, rows);
const none = rows.find((r) => r.name.startsWith("no tracing code"));
const off = rows.find((r) => r.name.startsWith("tracing off"));
if (none && off)
  console.log(
    `tracing off vs no tracing code: throughput ${(off.throughput / none.throughput).toFixed(3)}×, median latency ${(off.medianUs / none.medianUs).toFixed(3)}× (free when off: ≈ 1.00 within the run's noise)`,
  );
