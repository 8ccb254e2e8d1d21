/**
 * go-plugin's ReattachConfig: what a host needs to connect to a plugin it
 * did not start (Terraform's TF_REATTACH_PROVIDERS), and how podplug makes
 * sure the pid in it still names that plugin before it ever signals it
 * (nomad#23969: a stale config once killed an unrelated process that reused
 * the pid).
 *
 * The JSON form is Terraform's, which go-plugin users already pass around:
 * `{"Protocol":"grpc","ProtocolVersion":5,"Pid":1234,"Test":true,
 *   "Addr":{"Network":"unix","String":"/tmp/plugin123"}}`, plus podplug's
 * optional `"StartTime"` (the pid's start time, /proc/<pid>/stat field 22),
 * which Go readers ignore.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { PodplugError } from "../errors.ts";
import { processStartTime } from "../process/identity.ts";
import { checkSocketPath } from "./socket.ts";

/** go-plugin's ReattachConfig, in TypeScript. */
export interface ReattachConfig {
  /** "grpc" (podplug speaks no netrpc). */
  protocol: "grpc";
  /** The negotiated version; with `test`, the version the client dispenses. */
  protocolVersion: number;
  addr: { network: "unix"; address: string };
  /** The plugin's process; 0 when there is none to watch (a plugin in another pid namespace). */
  pid: number;
  /** go-plugin's Test: the plugin is someone else's to stop, so kill() only disconnects. */
  test: boolean;
  /** podplug: the pid's start time when the config was made; a pid started at another time is another process. */
  startTime?: string;
}

/** Largest JSON text accepted (a config is ~200 bytes). */
const MAX_JSON = 64 * 1024;

function invalid(message: string, details: Record<string, unknown> = {}): PodplugError {
  return new PodplugError("REATTACH_INVALID", `reattach config: ${message}`, details);
}

/** Checks and normalises a config given in code. */
export function validateReattachConfig(c: ReattachConfig): ReattachConfig {
  if (c.protocol !== "grpc")
    throw new PodplugError(
      "HANDSHAKE_PROTOCOL",
      `reattach config: protocol ${JSON.stringify(c.protocol)} is not supported; podplug speaks grpc only.`,
      { protocol: c.protocol },
    );
  if (!Number.isSafeInteger(c.protocolVersion) || c.protocolVersion < 0)
    throw invalid(`ProtocolVersion ${String(c.protocolVersion)} is not a non-negative integer.`);
  if (c.addr?.network !== "unix")
    throw new PodplugError(
      "HANDSHAKE_NETWORK",
      `reattach config: network ${JSON.stringify(c.addr?.network)} is not dialled; podplug hosts dial unix sockets only.`,
      { network: c.addr?.network },
    );
  if (typeof c.addr.address !== "string" || !c.addr.address.startsWith("/"))
    throw invalid(`Addr.String ${JSON.stringify(c.addr.address)} is not an absolute socket path.`);
  checkSocketPath(c.addr.address);
  if (!Number.isSafeInteger(c.pid) || c.pid < 0 || c.pid > 0x3fffffff)
    throw invalid(`Pid ${String(c.pid)} is not a process id.`);
  if (typeof c.test !== "boolean") throw invalid("Test must be a boolean.");
  if (c.startTime !== undefined && !/^\d{1,20}$/.test(c.startTime))
    throw invalid(`StartTime ${JSON.stringify(c.startTime)} is not a clock-tick count.`);
  return c;
}

/** Parses one config in Terraform's JSON shape (hostile input gets REATTACH_INVALID). */
export function parseReattachConfig(json: string | Record<string, unknown>): ReattachConfig {
  let v: unknown = json;
  if (typeof json === "string") {
    if (json.length > MAX_JSON) throw invalid(`${json.length} bytes of JSON; a config is a few hundred.`);
    try {
      v = JSON.parse(json);
    } catch (err) {
      throw invalid(`not JSON: ${(err as Error).message}`);
    }
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid("not a JSON object.");
  const o = v as Record<string, unknown>;
  const addr = o.Addr as Record<string, unknown> | undefined;
  if (typeof addr !== "object" || addr === null) throw invalid('no "Addr" object ({"Network":"unix","String":PATH}).');
  const protocol = o.Protocol ?? "netrpc"; // go-plugin's default for an empty protocol
  return validateReattachConfig({
    protocol: protocol as "grpc",
    protocolVersion: (o.ProtocolVersion ?? 0) as number,
    addr: { network: addr.Network as "unix", address: addr.String as string },
    pid: (o.Pid ?? 0) as number,
    test: (o.Test ?? false) as boolean,
    ...(o.StartTime !== undefined ? { startTime: o.StartTime as string } : {}),
  });
}

/** Terraform's JSON shape of one config. */
export function formatReattachConfig(c: ReattachConfig): string {
  return JSON.stringify({
    Protocol: c.protocol,
    ProtocolVersion: c.protocolVersion,
    Pid: c.pid,
    Test: c.test,
    Addr: { Network: c.addr.network, String: c.addr.address },
    ...(c.startTime !== undefined ? { StartTime: c.startTime } : {}),
  });
}

/** Parses TF_REATTACH_PROVIDERS-style JSON: plugin name → config. */
export function parseReattachMap(json: string): Record<string, ReattachConfig> {
  if (json.length > MAX_JSON) throw invalid(`${json.length} bytes of JSON; too large.`);
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw invalid(`not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid("not a JSON object of name → config.");
  const out: Record<string, ReattachConfig> = {};
  for (const [name, c] of Object.entries(v as Record<string, unknown>)) {
    try {
      out[name] = parseReattachConfig(c as Record<string, unknown>);
    } catch (err) {
      if (err instanceof PodplugError)
        throw new PodplugError(err.code, `${err.message} (plugin ${JSON.stringify(name)})`, { ...err.details, name });
      throw err;
    }
  }
  return out;
}

/** The inode of the listening Unix socket bound at `path` (this network namespace), if any. */
function listeningInode(path: string): string | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return undefined;
  }
  for (const line of table.split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path: flag 0x10000 is __SO_ACCEPTCON (listening).
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f.slice(7).join(" ") === path && (Number.parseInt(f[3]!, 16) & 0x10000) !== 0) return f[6];
  }
  return undefined;
}

/** What a look at the pid found. */
export type PidCheck =
  | { ok: true; verified: boolean; startTime?: string }
  | { ok: false; code: "REATTACH_NOT_FOUND" | "REATTACH_PROCESS_MISMATCH"; reason: string };

/**
 * Whether process `pid` is the plugin serving on `path`: it must exist, have
 * the start time the config recorded (when it did), and hold the listening
 * socket among its open files (when /proc lets us look). `verified` is false
 * when neither check could run: such a pid is never signalled.
 */
export function checkPluginPid(pid: number, path: string, startTime?: string): PidCheck {
  const now = processStartTime(pid);
  if (now === undefined) return { ok: false, code: "REATTACH_NOT_FOUND", reason: `process ${pid} does not exist` };
  if (startTime !== undefined && now !== startTime)
    return {
      ok: false,
      code: "REATTACH_PROCESS_MISMATCH",
      reason: `process ${pid} started at tick ${now}, not ${startTime}: the pid was reused by another process`,
    };
  const inode = listeningInode(path);
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // Another uid's process: only the start time could vouch for it.
    return { ok: true, verified: startTime !== undefined, startTime: now };
  }
  if (inode === undefined)
    return { ok: false, code: "REATTACH_NOT_FOUND", reason: `nothing listens on ${path} in this network namespace` };
  const target = `socket:[${inode}]`;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return { ok: true, verified: true, startTime: now };
    } catch {
      // closed meanwhile
    }
  }
  return {
    ok: false,
    code: "REATTACH_PROCESS_MISMATCH",
    reason: `process ${pid} does not hold the socket ${path}: it is not the plugin (a reused pid, or a wrong config)`,
  };
}
