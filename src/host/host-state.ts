/**
 * The host's connection state for one plugin, as a file beside the plugin's
 * socket: `<PODPLUG_SOCKET_ROOT>/<plugin>/host-state.json`. The host
 * container's readiness probe (`podplug-launcher ready <plugin>`) reads it,
 * so a pod (and `kubectl get plugins`) is Ready only while the host can use
 * its plugins. Written by write-then-rename, so a reader never sees half a
 * file; removed when the process exits. docs/host-authors.md, "Ready".
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger as PinoLogger } from "pino";
import { HOST_STATE_FILE_NAME } from "../constants.ts";
import { onExit } from "../process/on-exit.ts";

/** What the host can do with the plugin now. */
export type HostStateName = "ready" | "connecting" | "failing" | "stopped";

/** The file's content (version 1). */
export interface HostStateRecord {
  version: 1;
  plugin: string;
  state: HostStateName;
  /** A PodplugError code (SOCKET_PERMISSION, HANDSHAKE_APP_VERSION, ...) or CALLS_FAILING. */
  code?: string;
  reason?: string;
  updatedAt: string;
}

/** Paths this process has written, removed on exit by one hook. */
const written = new Set<string>();
let hooked = false;

function removeAll(): void {
  for (const p of written) {
    try {
      rmSync(p, { force: true });
    } catch {
      // Exiting: a file we may no longer remove is left for the next host to overwrite.
    }
  }
  written.clear();
}

/** Writes one plugin's state file; never throws into the client (a failed write is logged once). */
export class HostStateFile {
  readonly path: string;
  private readonly plugin: string;
  private readonly log: PinoLogger;
  private last = "";
  private warned = false;

  /** `dir` is the plugin's socket folder, `plugin` its name in the pod. */
  constructor(dir: string, plugin: string, log: PinoLogger) {
    this.path = join(dir, HOST_STATE_FILE_NAME);
    this.plugin = plugin;
    this.log = log;
  }

  /** The state last written (undefined before the first write). */
  get current(): HostStateName | undefined {
    return this.last === "" ? undefined : (JSON.parse(this.last) as { state: HostStateName }).state;
  }

  /** Records `state`; a no-op when state, code and reason are what the file already says. */
  set(state: HostStateName, code?: string, reason?: string): void {
    const key = JSON.stringify({ state, code, reason });
    if (key === this.last) return;
    this.last = key;
    const record: HostStateRecord = {
      version: 1,
      plugin: this.plugin,
      state,
      ...(code ? { code } : {}),
      ...(reason ? { reason } : {}),
      updatedAt: new Date().toISOString(),
    };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(record)}\n`, { mode: 0o644 });
      renameSync(tmp, this.path);
      if (!hooked) {
        hooked = true;
        onExit(removeAll);
      }
      written.add(this.path);
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // The folder refused the write itself: there is no temp file to remove.
      }
      if (!this.warned) {
        this.warned = true;
        this.log.warn(
          { err: (err as Error).message, path: this.path },
          "cannot write the host state file: the pod's readiness probe cannot see this host's connection state",
        );
      }
    }
  }
}
