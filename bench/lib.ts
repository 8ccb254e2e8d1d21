/**
 * Benchmark plumbing: sequential latency (median, p99) and throughput with a
 * fixed number of calls in flight, for any async call. Figures are only
 * meaningful as ratios to a baseline measured in the same run.
 */
import { readFileSync } from "node:fs";

export interface Figures {
  name: string;
  medianUs: number;
  p99Us: number;
  /** Calls per second with `inflight` calls outstanding. */
  throughput: number;
}

export const SEQUENTIAL = Number(process.env.BENCH_SEQ ?? 4000);
export const CONCURRENT_CALLS = Number(process.env.BENCH_CALLS ?? 30000);
export const INFLIGHT = 64;

/** How many calls a measurement makes (defaults: BENCH_SEQ, BENCH_CALLS, {@link INFLIGHT}). */
export interface MeasureOptions {
  sequential?: number;
  calls?: number;
  inflight?: number;
  /** Calls before measuring (default 1000). */
  warmup?: number;
}

/**
 * Measures `call` sequentially, then with `inflight` (default {@link INFLIGHT})
 * in flight; `call` gets its worker's number (0 when sequential).
 */
export async function measure(
  name: string,
  call: (worker: number) => Promise<unknown>,
  o: MeasureOptions = {},
): Promise<Figures> {
  const sequential = o.sequential ?? SEQUENTIAL;
  const calls = o.calls ?? CONCURRENT_CALLS;
  for (let i = 0; i < (o.warmup ?? 1000); i++) await call(0); // warm up JIT and connections
  const lat = new Float64Array(sequential);
  for (let i = 0; i < sequential; i++) {
    const t = process.hrtime.bigint();
    await call(0);
    lat[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  lat.sort();
  let started = 0;
  const t0 = process.hrtime.bigint();
  const worker = async (_: unknown, w: number): Promise<void> => {
    while (started < calls) {
      started++;
      await call(w);
    }
  };
  await Promise.all(Array.from({ length: o.inflight ?? INFLIGHT }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    name,
    medianUs: lat[Math.floor(lat.length / 2)]!,
    p99Us: lat[Math.floor(lat.length * 0.99)]!,
    throughput: started / secs,
  };
}

/** Prints figures as a table with ratios to `base` (latency: ×slower; throughput: ×of base). */
export function report(title: string, base: Figures, rows: Figures[]): void {
  console.log(`\n${title}  (ratios to "${base.name}")`);
  console.log(
    `${"path".padEnd(44)} ${"median µs".padStart(10)} ${"p99 µs".padStart(9)} ${"calls/s".padStart(9)}   ${"lat ×".padStart(6)} ${"tput ×".padStart(7)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(44)} ${r.medianUs.toFixed(0).padStart(10)} ${r.p99Us.toFixed(0).padStart(9)} ${r.throughput.toFixed(0).padStart(9)}   ${(r.medianUs / base.medianUs).toFixed(2).padStart(6)} ${(r.throughput / base.throughput).toFixed(2).padStart(7)}`,
    );
  }
}

/** The p-th percentile (0–100) of xs, nearest rank; NaN for none. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/** A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...) in KiB; NaN when the kernel gives none. */
export function procStatusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

/** The kernel's clock ticks per second in /proc (USER_HZ). */
const CLOCK_TICKS_PER_S = 100;

/** The CPU seconds (user + system) process `pid` has spent, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S; // utime, stime
}
