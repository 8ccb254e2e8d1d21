/**
 * `podplug reload <plugin>`: reloads a plugin of a running `podplug run`, in
 * every pod of the run that has it, as `client.reload()` does for a host:
 * go-plugin's controller Shutdown, then the runtime restarts the sidecar and
 * this command waits until the new process serves. The run is found by its
 * state folder (--state-dir, or the one `pp-run-*` temp folder of a run that
 * has the plugin).
 */
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { HANDSHAKE_FILE_NAME } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { Client } from "../host/client.ts";
import { SOCKET_VOLUME } from "../inject/conventions.ts";
import { parseHandshake } from "../protocol/handshake.ts";

/** The plugin's socket folders in the pods of run `stateDir` (`<stateDir>/<pod>/v/<socket volume>/<plugin>`). */
export function pluginFolders(stateDir: string, plugin: string): string[] {
  let pods: string[];
  try {
    pods = readdirSync(stateDir);
  } catch {
    return [];
  }
  return pods
    .map((pod) => join(stateDir, pod, "v", SOCKET_VOLUME, plugin))
    .filter((dir) => {
      try {
        return readdirSync(dir).includes(HANDSHAKE_FILE_NAME);
      } catch {
        return false;
      }
    })
    .sort();
}

/** The run's state folder: `given`, or the one temp run folder with `plugin`; PLUGIN_UNKNOWN / CONFIG_INVALID otherwise. */
export function findRun(plugin: string, given?: string, tmp = tmpdir()): string {
  if (given !== undefined) {
    if (pluginFolders(given, plugin).length === 0)
      throw new PodplugError(
        "PLUGIN_UNKNOWN",
        `no pod of the run in ${given} has a plugin ${JSON.stringify(plugin)} serving (no ${join(given, "<pod>", "v", SOCKET_VOLUME, plugin, HANDSHAKE_FILE_NAME)}).`,
      );
    return given;
  }
  const runs = readdirSync(tmp)
    .filter((n) => n.startsWith("pp-run-"))
    .map((n) => join(tmp, n))
    .filter((d) => pluginFolders(d, plugin).length > 0);
  if (runs.length === 0)
    throw new PodplugError(
      "PLUGIN_UNKNOWN",
      `no running podplug run in ${tmp} has a plugin ${JSON.stringify(plugin)}. Give the run's --state-dir if it has one.`,
    );
  if (runs.length > 1)
    throw new PodplugError(
      "CONFIG_INVALID",
      `${runs.length} podplug runs have a plugin ${JSON.stringify(plugin)} (${runs.join(", ")}): choose one with --state-dir.`,
    );
  return runs[0]!;
}

/** Reloads `plugin` in every pod of the run in `stateDir`; returns the folders reloaded. */
export async function reloadPlugin(stateDir: string, plugin: string, timeoutMs = 30_000): Promise<string[]> {
  const dirs = pluginFolders(stateDir, plugin);
  for (const dir of dirs) {
    // The version it serves, so that this client offers exactly it; attach mode checks no cookie.
    const h = parseHandshake(readFileSync(join(dir, HANDSHAKE_FILE_NAME), "utf8"), { versions: "any", source: dir });
    const client = new Client({
      handshake: { protocolVersion: h.appVersion, magicCookieKey: "PODPLUG_RELOAD", magicCookieValue: "reload" },
      plugins: {},
      attach: { dir },
      name: plugin,
      logger: pino({ level: "silent" }),
    });
    try {
      await client.start();
      await client.reload(timeoutMs);
    } finally {
      await client.kill();
    }
  }
  return dirs;
}
