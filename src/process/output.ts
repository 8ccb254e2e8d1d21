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

/** Carried from line to line of one stream (a Go panic spans lines). */
export interface OutputState {
  inPanic: boolean;
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

/** Logs one output line on `log` with go-plugin's level rules; `fallback` for plain lines. */
export function logOutputLine(
  log: PinoLogger,
  line: string,
  stream: "stderr" | "stdout",
  state: OutputState,
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
