/**
 * Forwards what a plugin writes — hclog JSON and plain lines on its stderr,
 * and the GRPCStdio stream — into the host's pino logger, bound to the
 * plugin's name, at the level the plugin meant (go-plugin's rules).
 */

import type { Readable } from "node:stream";
import type { Logger as PinoLogger } from "pino";
import { type HclogLevel, parseLine } from "../protocol/hclog.ts";

// pino's own keys; a line's field of that name is the plugin's (its pid, its time): renamed, not lost.
const PINO_KEYS = new Set(["level", "time", "msg", "pid", "hostname", "v"]);
/** Longest line kept whole (go-plugin's PluginLogBufferSize default); longer ones are split. */
export const MAX_LINE = 64 * 1024;

/** Splits a byte stream into lines, handing each to `onLine`; flush() emits the rest. */
export class LineSplitter {
  private buf = "";
  private readonly onLine: (line: string) => void;
  constructor(onLine: (line: string) => void) {
    this.onLine = onLine;
  }
  push(chunk: Buffer | string): void {
    this.buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, "");
      this.buf = this.buf.slice(i + 1);
      this.onLine(line);
    }
    while (this.buf.length > MAX_LINE) {
      this.onLine(this.buf.slice(0, MAX_LINE));
      this.buf = this.buf.slice(MAX_LINE);
    }
  }
  flush(): void {
    if (this.buf !== "") this.onLine(this.buf);
    this.buf = "";
  }
}

const PINO_LEVELS: Record<number, HclogLevel> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "error",
};

/** A pino JSON line (numeric `level`, string `msg`), as a TypeScript host in a local run writes. */
function pinoRecord(line: string): { level: HclogLevel; msg: string; fields: Record<string, unknown> } | undefined {
  if (!line.startsWith('{"level":')) return undefined;
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    const level = typeof r.level === "number" ? PINO_LEVELS[r.level] : undefined;
    if (!level || typeof r.msg !== "string") return undefined;
    const { level: _l, msg, time: _t, pid: _p, hostname: _h, ...fields } = r;
    return { level, msg: msg as string, fields };
  } catch {
    return undefined;
  }
}

/**
 * Adds a line's field to the record: a field the logger already binds with
 * the same value is that fact once (a host's `plugin: kv` under a logger bound
 * to `plugin: kv` is not repeated, nor doubled as `plugin_plugin`); with
 * another value it is kept as `line_<key>`.
 */
function addField(fields: Record<string, unknown>, bound: Record<string, unknown>, key: string, value: unknown): void {
  if (PINO_KEYS.has(key)) fields[`plugin_${key}`] = value;
  else if (key in fields || Object.hasOwn(bound, key)) {
    if ((key in fields ? fields[key] : bound[key]) !== value) fields[`line_${key}`] = value;
  } else fields[key] = value;
}

/** Logs one plugin line on `log` with go-plugin's level rules; `fallback` for plain lines. */
export function logPluginLine(
  log: PinoLogger,
  line: string,
  stream: "stderr" | "stdout",
  state: { inPanic: boolean },
  fallback: HclogLevel,
): void {
  if (line === "") return;
  const p0 = pinoRecord(line);
  if (p0) {
    const fields: Record<string, unknown> = { stream };
    const bound = log.bindings();
    for (const [k, v] of Object.entries(p0.fields)) addField(fields, bound, k, v);
    log[p0.level](fields, p0.msg);
    return;
  }
  const p = parseLine(line, state, fallback);
  const fields: Record<string, unknown> = { stream };
  const bound = log.bindings();
  for (const [k, v] of Object.entries(p.fields)) addField(fields, bound, k.startsWith("@") ? k.slice(1) : k, v);
  if (p.timestamp) fields.plugin_time = p.timestamp;
  log[p.level](fields, p.message);
}

/** Reads a plugin's stderr pipe to its end. Plain lines log at debug, as go-plugin does. */
export function forwardStderr(stderr: Readable, log: PinoLogger, tail?: (line: string) => void): void {
  const state = { inPanic: false };
  const split = new LineSplitter((line) => {
    tail?.(line);
    logPluginLine(log, line, "stderr", state, "debug");
  });
  stderr.on("data", (c: Buffer) => split.push(c));
  stderr.on("end", () => split.flush());
}
