/**
 * The small logging surface the protocol layer needs. The plugin SDK backs it
 * with hclog JSON on stderr (what go-plugin hosts parse); the host SDK with pino.
 */
import type { Logger as PinoLogger } from "pino";
import { formatLine, type HclogLevel } from "./hclog.ts";

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<HclogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/**
 * An hclog-compatible JSON logger. `write` receives whole lines; the plugin
 * SDK points it at the process's real stderr so a Go host's log parser reads it.
 */
export function hclogLogger(
  write: (line: string) => void,
  level: HclogLevel = "trace",
  base: Record<string, unknown> = {},
): Logger {
  const at =
    (l: HclogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (ORDER[l] >= ORDER[level]) write(formatLine(l, msg, { ...base, ...fields }));
    };
  return { trace: at("trace"), debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Adapts a pino logger to {@link Logger} (fields first, as pino wants). */
export function fromPino(p: PinoLogger): Logger {
  return {
    trace: (m, f) => p.trace(f ?? {}, m),
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
  };
}
