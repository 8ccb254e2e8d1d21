/**
 * The live view for a person at a terminal: what runs, its state, readiness,
 * restarts and last exit, redrawn every second, with the latest log lines;
 * and, for each host that serves metrics (a port named `metrics`), each
 * plugin's calls per second, errors per second and p99 latency (host-red.ts).
 */
import type { PluginRed } from "./host-red.ts";
import type { LocalPod } from "./pod.ts";

/** One host's call figures. */
export interface HostRed {
  pod: string;
  host: string;
  plugins: PluginRed[];
}

const align = (rows: string[][]): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
};

/** A duration in seconds as a person reads it: µs, ms or s, three significant digits. */
export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return "-";
  if (s < 0.001) return `${Number((s * 1e6).toPrecision(3))}µs`;
  if (s < 1) return `${Number((s * 1e3).toPrecision(3))}ms`;
  return `${Number(s.toPrecision(3))}s`;
}

/** The per-plugin call table: one line per plugin of each host; empty when no host serves metrics. */
export function renderRed(hosts: readonly HostRed[]): string {
  const rows: string[][] = [["POD", "HOST", "PLUGIN", "CALLS/S", "ERRORS/S", "P99"]];
  for (const h of hosts)
    for (const p of h.plugins)
      rows.push([h.pod, h.host, p.plugin, p.rate.toFixed(1), p.errors.toFixed(1), formatSeconds(p.p99)]);
  return rows.length > 1 ? align(rows) : "";
}

/** Renders the table (no ANSI), one line per container. */
export function renderTable(pods: readonly LocalPod[], now = Date.now()): string {
  const rows: string[][] = [["POD", "CONTAINER", "ROLE", "STATE", "READY", "RESTARTS", "PID", "AGE", "LAST EXIT"]];
  for (const p of pods) {
    for (const c of p.containers) {
      const age = c.startedAt && c.state === "running" ? `${Math.round((now - c.startedAt) / 1000)}s` : "-";
      rows.push([
        p.name,
        c.spec.name,
        c.spec.role,
        c.state,
        c.ready ? "yes" : "no",
        String(c.restarts),
        c.pid ? String(c.pid) : "-",
        age,
        c.lastExit ?? "",
      ]);
    }
  }
  return align(rows);
}

/** Redraws the view on `out` every second until stopped. */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private readonly lines: string[] = [];
  private readonly pods: readonly LocalPod[];
  private readonly out: NodeJS.WriteStream;
  private readonly header: string;
  private readonly red: () => HostRed[];

  constructor(pods: readonly LocalPod[], out: NodeJS.WriteStream, header: string, red: () => HostRed[] = () => []) {
    this.pods = pods;
    this.out = out;
    this.header = header;
    this.red = red;
  }

  /** Keeps the last log messages for the bottom of the screen. */
  log(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 12) this.lines.shift();
  }

  start(): void {
    this.draw();
    this.timer = setInterval(() => this.draw(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.draw();
  }

  private draw(): void {
    const red = renderRed(this.red());
    this.out.write(
      `\x1b[H\x1b[2J${this.header}\n\n${renderTable(this.pods)}\n\n${red ? `${red}\n\n` : ""}${this.lines.join("\n")}\n`,
    );
  }
}
