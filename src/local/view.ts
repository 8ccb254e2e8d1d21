/**
 * The live view for a person at a terminal: what runs, its state, readiness,
 * restarts and last exit, redrawn every second, with the latest log lines.
 */
import type { LocalPod } from "./pod.ts";

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
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Redraws the view on `out` every second until stopped. */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private readonly lines: string[] = [];
  private readonly pods: readonly LocalPod[];
  private readonly out: NodeJS.WriteStream;
  private readonly header: string;

  constructor(pods: readonly LocalPod[], out: NodeJS.WriteStream, header: string) {
    this.pods = pods;
    this.out = out;
    this.header = header;
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
    this.out.write(`\x1b[H\x1b[2J${this.header}\n\n${renderTable(this.pods)}\n\n${this.lines.join("\n")}\n`);
  }
}
