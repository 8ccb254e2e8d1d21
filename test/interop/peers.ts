/**
 * The Go peers of the interop tests and benchmarks: go-plugin's own example
 * programs and test/go's programs, built by tools/build-go-peers.sh into
 * $PODPLUG_CACHE/go-peers/ (the first call builds them when missing).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cachedBuild } from "../helpers.ts";

export const ROOT = resolve(import.meta.dirname, "..", "..");

/** The Go programs the build script produces. */
export type GoPeer =
  | "grpc-host"
  | "grpc-plugin"
  | "bidir-host"
  | "bidir-plugin"
  | "gohost"
  | "gohost-counter"
  | "goplugin"
  | "benchhost"
  | "tlspeer";

let dir: string | undefined;

/** Folder of the built Go peers (builds them on first use; a cold build takes about a minute). */
export function goPeersDir(): string {
  dir ??= cachedBuild("build-go-peers.sh");
  return dir;
}

/** Absolute path of a Go peer. */
export function goPeer(name: GoPeer): string {
  return join(goPeersDir(), name);
}

/** Quotes one word for sh. */
export function shq(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A shell command that runs a TypeScript program of the repository with this Node (Node 24). */
export function nodeCommand(script: string, ...args: string[]): string {
  return [process.execPath, join(ROOT, script), ...args].map(shq).join(" ");
}

/** One line a Go peer printed on stdout (gohost: `{"event": ...}`). */
export type PeerEvent = Record<string, unknown> & { event: string };
/** One hclog JSON line a Go host wrote on stderr. */
export type HclogRecord = Record<string, unknown> & { "@level": string; "@message": string };

export interface PeerResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout lines that are JSON objects with an `event`. */
  events: PeerEvent[];
  /** stderr lines that are hclog JSON. */
  logs: HclogRecord[];
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the program after this long (default 60 s): a hung peer fails the test instead of the run. */
  timeoutMs?: number;
}

/** Runs a Go peer to its end and collects its output. */
export function runPeer(name: GoPeer, args: string[], opts: RunOptions = {}): Promise<PeerResult> {
  // A temp folder of its own, removed at its end: go-plugin's client leaves the sockets of plugins it killed or refused there.
  const tmp = mkdtempSync(join(tmpdir(), "pr-"));
  const child = spawn(goPeer(name), args, {
    cwd: opts.cwd,
    env: { ...process.env, TMPDIR: tmp, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.once("close", () => rmSync(tmp, { recursive: true, force: true }));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  return new Promise((res, rej) => {
    child.on("error", rej);
    child.on("close", (code) => {
      clearTimeout(timer);
      res({
        code,
        stdout,
        stderr,
        events: jsonLines(stdout).filter((l): l is PeerEvent => typeof l.event === "string"),
        logs: jsonLines(stderr).filter((l): l is HclogRecord => typeof l["@level"] === "string"),
      });
    });
  });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").flatMap((l) => {
    if (!l.startsWith("{")) return [];
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The events of one kind. */
export function eventsOf(r: PeerResult, event: string): PeerEvent[] {
  return r.events.filter((e) => e.event === event);
}

/** A readable summary for assertion messages. */
export function explain(r: PeerResult): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr (last 3000 chars):\n${r.stderr.slice(-3000)}`;
}

/** A plugin started directly with a host's env, up to its handshake line. */
export interface StartedPlugin {
  /** The first stdout line (the handshake), trimmed. */
  line: Promise<string>;
  /** stderr so far. */
  stderr(): string;
  /** The plugin's process id. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts a plugin program as a host would, with `env` added to this process's. */
export function startPlugin(command: string, args: string[], env: NodeJS.ProcessEnv): StartedPlugin {
  // Its sockets in a folder of its own, removed at stop(): a SIGKILLed plugin cannot remove them itself.
  const sockets = mkdtempSync(join(tmpdir(), "ps-"));
  const child = spawn(command, args, {
    env: { ...process.env, PLUGIN_UNIX_SOCKET_DIR: sockets, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.once("close", () => rmSync(sockets, { recursive: true, force: true }));
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const line = new Promise<string>((res, rej) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) res(out.slice(0, out.indexOf("\n")).trim());
    });
    child.on("close", (code) => rej(new Error(`plugin exited (${code}) before its handshake line; stderr:\n${err}`)));
  });
  line.catch(() => undefined);
  const closed = new Promise<void>((r) => child.on("close", () => r()));
  return {
    line,
    pid: child.pid!,
    stderr: () => err,
    stop: async () => {
      child.kill("SIGKILL");
      await closed;
    },
  };
}
