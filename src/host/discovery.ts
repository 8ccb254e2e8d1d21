/**
 * Which plugins a pod's host has, and when one comes or goes (the kubelet's
 * plugin watcher does this for device plugins): the socket root's
 * sub-folders, each live when its plugin serves there. `requirePlugins()` is
 * the fail-fast registration of plugins a host cannot run without: a plugin
 * the pod was not given fails the start at once, one that does not serve
 * fails it after a short wait, never the client's minute-long start timeout.
 */
import { type FSWatcher, watch } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { HOST_ENV } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { parseHandshake } from "../protocol/handshake.ts";
import { findPluginEndpoint } from "../protocol/sidecar.ts";
import { probeSocket } from "../protocol/socket.ts";

/** What one look found in a plugin's folder. */
export type PluginPresence =
  /** Its plugin serves: a handshake file naming a live socket, or a live go-plugin socket. */
  | "serving"
  /** Nothing live yet (not started, restarting, or gone). */
  | "absent"
  /** A handshake file that is no go-plugin handshake line. */
  | "invalid";

/** A plugin folder of the socket root. */
export interface DiscoveredPlugin {
  name: string;
  dir: string;
  presence: PluginPresence;
  /** Why, when `invalid`. */
  reason?: string;
}

function socketRoot(env: NodeJS.ProcessEnv, what: string): string {
  const root = env[HOST_ENV.socketRoot];
  if (!root)
    throw new PodplugError(
      "NOT_INJECTED",
      `${what}: ${HOST_ENV.socketRoot} is not set, so this pod was not injected by the podplug operator (or run by podplug run). Pass the socket root explicitly outside a pod.`,
      { missing: HOST_ENV.socketRoot },
    );
  return root;
}

/** One look at `dir`. */
export async function presenceOf(dir: string): Promise<{ presence: PluginPresence; reason?: string }> {
  const ep = await findPluginEndpoint(dir);
  if (ep.kind === "none") return { presence: "absent" };
  if (ep.kind === "socket") return { presence: "serving" };
  let address: string;
  try {
    // Only the line's shape: the versions a host accepts are its Client's to check.
    address = parseHandshake(ep.line, { versions: "any", source: ep.file }).address;
  } catch (err) {
    return { presence: "invalid", reason: (err as Error).message };
  }
  return { presence: (await probeSocket(address)).live ? "serving" : "absent" };
}

/**
 * The plugin folders under `root` (default `$PODPLUG_SOCKET_ROOT`), sorted,
 * each with what is there now.
 */
export async function discoverPlugins(
  root?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DiscoveredPlugin[]> {
  const r = root ?? socketRoot(env, "discoverPlugins()");
  const names = (await readdir(r, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return Promise.all(names.map(async (name) => ({ name, dir: join(r, name), ...(await presenceOf(join(r, name))) })));
}

/** A plugin whose presence changed. */
export interface PluginChange {
  name: string;
  presence: PluginPresence;
  reason?: string;
}

/**
 * Calls `onChange` when a plugin under `root` starts serving, stops, or
 * becomes invalid (and once for each plugin found at start). Reacts to the
 * folder's file events and looks again every `rescanMs` (default 2 s) for
 * what an event cannot show, a stopped process whose socket is left. Stop it
 * with `close()`.
 */
export function watchPlugins(
  root: string,
  onChange: (c: PluginChange) => void,
  opts: { rescanMs?: number } = {},
): { close(): void } {
  const known = new Map<string, PluginPresence>();
  let closed = false;
  let scanning = false;
  let again = false;
  const scan = async (): Promise<void> => {
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    try {
      do {
        again = false;
        let found: DiscoveredPlugin[];
        try {
          found = await discoverPlugins(root);
        } catch {
          found = []; // the root itself went: every plugin left
        }
        if (closed) return;
        const seen = new Set<string>();
        for (const p of found) {
          seen.add(p.name);
          if (known.get(p.name) === p.presence) continue;
          known.set(p.name, p.presence);
          onChange({ name: p.name, presence: p.presence, ...(p.reason ? { reason: p.reason } : {}) });
        }
        for (const [name, was] of known)
          if (!seen.has(name) && was !== "absent") {
            known.set(name, "absent");
            onChange({ name, presence: "absent" });
          }
      } while (again && !closed);
    } finally {
      scanning = false;
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, { recursive: true }, () => void scan());
    watcher.on("error", () => undefined); // the rescan carries on
  } catch {
    watcher = undefined; // a root that is not there yet: the rescan finds it
  }
  const timer = setInterval(() => void scan(), opts.rescanMs ?? 2000);
  timer.unref();
  void scan();
  return {
    close(): void {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}

/**
 * Fails fast unless every plugin of `names` is there: one this pod was not
 * given (not in `$PODPLUG_PLUGINS`) or whose handshake file is invalid fails
 * at once; one that does not serve within `timeoutMs` (default 5 s: a
 * sidecar restarting) fails then. PLUGIN_REQUIRED_MISSING names each.
 */
export async function requirePlugins(
  names: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; root?: string } = {},
): Promise<void> {
  const env = opts.env ?? process.env;
  const root = opts.root ?? socketRoot(env, "requirePlugins()");
  const injected = opts.root ? undefined : (env[HOST_ENV.plugins] ?? "").split(",").filter(Boolean);
  const problems: string[] = [];
  const waiting: string[] = [];
  for (const n of names) {
    if (injected && !injected.includes(n))
      problems.push(`${n}: not injected into this pod (${HOST_ENV.plugins}=${injected.join(",")})`);
    else waiting.push(n);
  }
  const deadline = performance.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    const now = await Promise.all(waiting.map(async (n) => [n, await presenceOf(join(root, n))] as const));
    const invalid = now.filter(([, p]) => p.presence === "invalid");
    const absent = now.filter(([, p]) => p.presence === "absent");
    // Only a plugin that may still come up is worth waiting for, and only while nothing else failed.
    if (absent.length > 0 && invalid.length === 0 && problems.length === 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    for (const [n, p] of invalid) problems.push(`${n}: ${p.reason}`);
    for (const [n] of absent) problems.push(`${n}: not serving in ${join(root, n)}`);
    break;
  }
  if (problems.length > 0)
    throw new PodplugError(
      "PLUGIN_REQUIRED_MISSING",
      `required plugins are missing: ${problems.join("; ")}. Check that a Plugin selects this workload (kubectl get plugins) and that its sidecar runs.`,
      { problems },
    );
}
