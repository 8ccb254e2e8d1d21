/**
 * Per-plugin rate, errors and p99 for the live view, from a host's own
 * /metrics (the host SDK's RED metrics, docs/metrics.md): the runtime reads
 * the host container's port named `metrics` on 127.0.0.1 once a second and
 * computes, over the last few seconds, what `rate()` and
 * `histogram_quantile(0.99, …)` would. Only the two RED families are read;
 * any other line, and any line that does not parse, is skipped.
 */

/** The counts of one scrape, per plugin. */
export interface RedSample {
  at: number;
  /** plugin → calls that ended, and those not OK. */
  calls: Map<string, { total: number; failed: number }>;
  /** plugin → upper bound (`le`) → cumulative count. */
  buckets: Map<string, Map<number, number>>;
}

/** One plugin's row. */
export interface PluginRed {
  plugin: string;
  /** Calls per second. */
  rate: number;
  /** Calls per second that did not end OK. */
  errors: number;
  /** Seconds; undefined without calls in the window. */
  p99: number | undefined;
}

const LINE = /^(podplug_host_calls_total|podplug_host_call_duration_seconds_bucket)\{([^}]*)\}\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labels(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of s.matchAll(LABEL))
    out.set(
      m[1]!,
      m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c)),
    );
  return out;
}

/** Parses the exposition text of a host's /metrics (at time `at`, ms). */
export function parseRed(text: string, at: number): RedSample {
  const sample: RedSample = { at, calls: new Map(), buckets: new Map() };
  for (const line of text.split("\n")) {
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const value = m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]);
    if (!Number.isFinite(value) || value < 0) continue;
    const l = labels(m[2]!);
    const plugin = l.get("plugin");
    if (!plugin) continue;
    if (m[1] === "podplug_host_calls_total") {
      const code = l.get("code");
      if (!code) continue;
      const c = sample.calls.get(plugin) ?? { total: 0, failed: 0 };
      c.total += value;
      if (code !== "OK") c.failed += value;
      sample.calls.set(plugin, c);
    } else {
      const leRaw = l.get("le");
      const le = leRaw === "+Inf" ? Number.POSITIVE_INFINITY : Number(leRaw);
      if (leRaw === undefined || Number.isNaN(le)) continue;
      const b = sample.buckets.get(plugin) ?? new Map<number, number>();
      b.set(le, (b.get(le) ?? 0) + value); // summed over service and method
      sample.buckets.set(plugin, b);
    }
  }
  return sample;
}

/** An increase as Prometheus counts it: a counter that went down restarted from 0. */
const increase = (a: number, b: number): number => (b >= a ? b - a : b);

/**
 * histogram_quantile over cumulative `(le, count)` pairs: linear within the
 * bucket the rank falls in; the highest finite bound if it falls in +Inf.
 */
export function quantile(q: number, buckets: [number, number][]): number | undefined {
  const bs = [...buckets].sort((x, y) => x[0] - y[0]);
  const total = bs.at(-1)?.[1] ?? 0;
  if (bs.length < 2 || total <= 0 || bs.at(-1)![0] !== Number.POSITIVE_INFINITY) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of bs) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Each plugin's rate, errors and p99 between two scrapes (`a` before `b`), by plugin name. */
export function redBetween(a: RedSample, b: RedSample): PluginRed[] {
  const secs = (b.at - a.at) / 1000;
  if (secs <= 0) return [];
  const out: PluginRed[] = [];
  for (const [plugin, nb] of b.calls) {
    const na = a.calls.get(plugin) ?? { total: 0, failed: 0 };
    const bb = b.buckets.get(plugin) ?? new Map<number, number>();
    const ba = a.buckets.get(plugin) ?? new Map<number, number>();
    const delta: [number, number][] = [...bb].map(([le, n]) => [le, increase(ba.get(le) ?? 0, n)]);
    out.push({
      plugin,
      rate: increase(na.total, nb.total) / secs,
      errors: increase(na.failed, nb.failed) / secs,
      p99: quantile(0.99, delta),
    });
  }
  return out.sort((x, y) => x.plugin.localeCompare(y.plugin));
}

/** How far back the view's figures look: long enough to smooth a call a second. */
const WINDOW_MS = 10_000;

/** Scrapes one host's /metrics every second (127.0.0.1 only, one request at a time) and keeps a window. */
export class HostRedPoller {
  private readonly url: string;
  private readonly samples: RedSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(port: number) {
    this.url = `http://127.0.0.1:${port}/metrics`;
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads /metrics once (a host not answering yet, or gone, leaves the window as it is). */
  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const r = await fetch(this.url, { signal: AbortSignal.timeout(800) });
      if (!r.ok) return;
      this.add(parseRed(await r.text(), Date.now()));
    } catch {
      // Not listening (starting, restarting): nothing to show this second.
    } finally {
      this.busy = false;
    }
  }

  add(s: RedSample): void {
    this.samples.push(s);
    while (this.samples.length > 2 && s.at - this.samples[1]!.at >= WINDOW_MS) this.samples.shift();
  }

  /** The figures over the window, empty until two scrapes. */
  figures(): PluginRed[] {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    return first && last && first !== last ? redBetween(first, last) : [];
  }
}
