/**
 * A child's output lines into the parent's pino logger at the level the
 * child meant: hclog JSON and Go's `[LEVEL]` lines (go-plugin's rules, panics
 * included), pino JSON lines (a TypeScript host under `podplug run`), plain
 * lines at a fallback level. Used for a plugin's stderr and GRPCStdio stream
 * in the host SDK, and for every container's output in the local runtime.
 */
import type { Logger as PinoLogger } from "pino";
import { type HclogLevel, parseLine } from "../protocol/hclog.ts";

// pino's own keys; a line's field of that name is the child's (its pid, its time): renamed, not lost.
const PINO_KEYS = new Set(["level", "time", "msg", "pid", "hostname", "v"]);

const PINO_LEVELS: Record<number, HclogLevel> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "error",
};

/** Carried from line to line of one stream (a Go panic spans lines; the rate bucket). */
export interface OutputState {
  inPanic: boolean;
  /** The stream's line-rate bucket, made on its first line ({@link LOG_LINE_RATE}). */
  rate?: LineRate;
}

/**
 * Lines of one stream a plugin may put into the host's log: a burst, then
 * this many per second. A plugin that prints faster would otherwise fill the
 * host's log destination (and pino's buffer in front of it) without end;
 * lines past the rate are counted, not logged, and the count is logged
 * (`PLUGIN_LOG_RATE`, warn) with the next line the rate lets through.
 */
export const LOG_LINE_RATE = { burst: 10_000, perSecond: 2000 } as const;

/** A token bucket of lines. */
interface LineRate {
  tokens: number;
  at: number;
  dropped: number;
}

/** Takes a token for one line; false when the stream is over its rate (the line is counted as dropped). */
function takeLine(log: PinoLogger, stream: "stderr" | "stdout", state: OutputState): boolean {
  const now = performance.now();
  const r = (state.rate ??= { tokens: LOG_LINE_RATE.burst, at: now, dropped: 0 });
  r.tokens = Math.min(LOG_LINE_RATE.burst, r.tokens + ((now - r.at) / 1000) * LOG_LINE_RATE.perSecond);
  r.at = now;
  if (r.tokens < 1) {
    r.dropped++;
    return false;
  }
  r.tokens -= 1;
  if (r.dropped > 0) {
    log.warn(
      { code: "PLUGIN_LOG_RATE", stream, dropped: r.dropped, ...LOG_LINE_RATE },
      `the plugin wrote more than ${LOG_LINE_RATE.perSecond} lines/s (after a burst of ${LOG_LINE_RATE.burst}) on its ${stream}: ${r.dropped} lines were not logged`,
    );
    r.dropped = 0;
  }
  return true;
}

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

/**
 * Where a forwarded line came from, as its `source` field says: an hclog JSON
 * line or a pino JSON line (a logger's), a raw line on the process's stderr
 * or stdout pipe, or a line the plugin sent over go-plugin's GRPCStdio stream
 * (its os.Stdout/os.Stderr; `stream` then says which).
 */
export type OutputSource = "hclog" | "pino" | "stderr" | "stdout" | "grpc-stdio";

/** How a line reached us: a process's own pipe, or go-plugin's GRPCStdio stream. */
export type OutputChannel = "pipe" | "grpc-stdio";

/**
 * Logs one output line on `log` with go-plugin's level rules; `fallback` for
 * plain lines. Every record carries `stream` and `source` ({@link OutputSource}).
 */
export function logOutputLine(
  log: PinoLogger,
  line: string,
  stream: "stderr" | "stdout",
  state: OutputState,
  fallback: HclogLevel,
  channel: OutputChannel = "pipe",
): void {
  if (line === "" || !takeLine(log, stream, state)) return;
  const p0 = pinoRecord(line);
  if (p0) {
    const fields: Record<string, unknown> = { stream, source: channel === "pipe" ? "pino" : channel };
    const bound = log.bindings();
    for (const [k, v] of Object.entries(p0.fields)) addField(fields, bound, k, v);
    log[p0.level](fields, p0.msg);
    return;
  }
  const p = parseLine(line, state, fallback);
  const source: OutputSource = channel === "grpc-stdio" ? channel : p.json ? "hclog" : stream;
  const fields: Record<string, unknown> = { stream, source };
  const bound = log.bindings();
  for (const [k, v] of Object.entries(p.fields)) addField(fields, bound, k.startsWith("@") ? k.slice(1) : k, v);
  if (p.timestamp) fields.plugin_time = p.timestamp;
  log[p.level](fields, p.message);
}
