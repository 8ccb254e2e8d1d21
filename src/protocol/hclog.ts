/**
 * hclog's JSON line format, the log format go-plugin hosts parse from a
 * plugin's stderr. The field names and the timestamp layout are part of the
 * contract: a Go host panics on a non-string `@level`, `@message` or
 * `@timestamp`, and rejects timestamps that are not
 * `2006-01-02T15:04:05.000000Z07:00` (exactly six fractional digits).
 */

export type HclogLevel = "trace" | "debug" | "info" | "warn" | "error";

const LEVELS: readonly HclogLevel[] = ["trace", "debug", "info", "warn", "error"];

/** Formats a time in hclog's JSON layout, in UTC: `2026-11-23T06:55:01.123456Z`. */
export function formatTimestamp(ms: number, micros = 0): string {
  const iso = new Date(ms).toISOString(); // 2026-11-23T06:55:01.123Z
  const frac = String(Math.trunc(micros) % 1000).padStart(3, "0");
  return `${iso.slice(0, 23)}${frac}Z`;
}

/** One hclog JSON line (with the trailing newline) for the given record. */
export function formatLine(
  level: HclogLevel,
  message: string,
  fields: Record<string, unknown> = {},
  now = Date.now(),
): string {
  const rec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    // Reserved keys must stay strings written by us; a user field never overrides them.
    if (k === "@level" || k === "@message" || k === "@timestamp") rec[`_${k.slice(1)}`] = v;
    else rec[k] = v instanceof Error ? v.message : v;
  }
  rec["@level"] = level;
  rec["@message"] = String(message);
  rec["@timestamp"] = formatTimestamp(now);
  return `${safeStringify(rec)}\n`;
}

function safeStringify(rec: Record<string, unknown>): string {
  try {
    return JSON.stringify(rec, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    // Circular or otherwise unserialisable fields: keep the three that matter.
    return JSON.stringify({ "@level": rec["@level"], "@message": rec["@message"], "@timestamp": rec["@timestamp"] });
  }
}

/** A plugin log line as the host understood it. */
export interface ParsedLogLine {
  level: HclogLevel;
  message: string;
  /** hclog key/value pairs (and `@module`, `@caller`), when the line was JSON. */
  fields: Record<string, unknown>;
  /** The plugin's own timestamp, when it gave a valid one. */
  timestamp?: string;
  /** True when the line was an hclog JSON object. */
  json: boolean;
}

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses one stderr line as go-plugin's host does: hclog JSON first, then the
 * `[LEVEL]` prefixes of Go's standard logger, then panics; anything else is
 * `fallback` (go-plugin uses debug). `inPanic` carries panic state across lines.
 */
export function parseLine(line: string, state: { inPanic: boolean }, fallback: HclogLevel = "debug"): ParsedLogLine {
  if (line.startsWith("{")) {
    try {
      const obj: unknown = JSON.parse(line);
      if (obj !== null && typeof obj === "object" && !Array.isArray(obj)) {
        const rec = obj as Record<string, unknown>;
        const fields: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(rec)) {
          if (k !== "@level" && k !== "@message" && k !== "@timestamp") fields[k] = v;
        }
        const lvl = typeof rec["@level"] === "string" ? rec["@level"].toLowerCase() : "";
        const out: ParsedLogLine = {
          level: (LEVELS as readonly string[]).includes(lvl) ? (lvl as HclogLevel) : "debug",
          message: typeof rec["@message"] === "string" ? rec["@message"] : line,
          fields,
          json: true,
        };
        if (typeof rec["@timestamp"] === "string" && TS_RE.test(rec["@timestamp"])) out.timestamp = rec["@timestamp"];
        return out;
      }
    } catch {
      // not JSON: fall through to the plain-text rules
    }
  }
  const prefixed: [string, HclogLevel][] = [
    ["[TRACE]", "trace"],
    ["[DEBUG]", "debug"],
    ["[INFO]", "info"],
    ["[WARN]", "warn"],
    ["[ERROR]", "error"],
  ];
  for (const [p, level] of prefixed) if (line.startsWith(p)) return { level, message: line, fields: {}, json: false };
  if (line.startsWith("panic: ") || line.startsWith("fatal error: ")) state.inPanic = true;
  if (state.inPanic) return { level: "error", message: line, fields: {}, json: false };
  return { level: fallback, message: line, fields: {}, json: false };
}
