/**
 * The host side of go-plugin's ReattachConfig: connecting to a plugin named
 * by a config (Terraform's TF_REATTACH_PROVIDERS), watching its process, and
 * go-plugin's kill() for it — controller Shutdown, wait, then SIGKILL — but
 * only for a pid that is provably still the plugin.
 */
import { PodplugError } from "../errors.ts";
import { identityAlive, processStartTime } from "../process/identity.ts";
import { CORE_PROTOCOL_VERSION, type Handshake } from "../protocol/handshake.ts";
import { checkPluginPid, type ReattachConfig } from "../protocol/reattach.ts";
import { probeSocket } from "../protocol/socket.ts";

/** The process a reattached client watches and may stop. */
export interface ReattachedProcess {
  pid: number;
  startTime: string | undefined;
  /** False when neither the start time nor the socket could vouch for the pid: never signalled. */
  verified: boolean;
}

/** Checks the config's socket and pid (go-plugin's ReattachFunc, plus the identity check) and builds the handshake. */
export async function reattachTo(
  r: ReattachConfig,
  versions: readonly number[],
  defaultVersion: number,
  name: string,
): Promise<{ handshake: Handshake; process: ReattachedProcess | undefined }> {
  const probe = await probeSocket(r.addr.address);
  if (!probe.live) {
    throw new PodplugError(
      "REATTACH_NOT_FOUND",
      `plugin ${name}: Reattachment process not found: nothing accepts connections on ${r.addr.address}${probe.error ? ` (${probe.error.code ?? probe.error.message})` : ""}. The plugin has exited; start it again and use its new reattach config.`,
      { address: r.addr.address, pid: r.pid },
    );
  }
  let proc: ReattachedProcess | undefined;
  if (r.pid > 0) {
    const c = checkPluginPid(r.pid, r.addr.address, r.startTime);
    if (!c.ok) {
      throw new PodplugError(
        c.code,
        `plugin ${name}: the reattach config's Pid ${r.pid} is not the plugin: ${c.reason}. Nothing was signalled; use a fresh reattach config.`,
        { pid: r.pid, address: r.addr.address },
      );
    }
    proc = { pid: r.pid, startTime: c.startTime, verified: c.verified };
  }
  const appVersion = r.protocolVersion > 0 ? r.protocolVersion : defaultVersion;
  if (!versions.includes(appVersion)) {
    throw new PodplugError(
      "HANDSHAKE_APP_VERSION",
      `plugin ${name}: the reattach config's ProtocolVersion ${appVersion} is not one this host has plugins for (${versions.join(", ")}).`,
      { appVersion, offered: [...versions] },
    );
  }
  const handshake: Handshake = {
    core: CORE_PROTOCOL_VERSION,
    appVersion,
    network: "unix",
    address: r.addr.address,
    protocol: "grpc",
    serverCert: "",
  };
  return { handshake, process: proc };
}

/** Resolves when the process is gone (polled: it is not our child). */
export function processGone(p: ReattachedProcess, signal: AbortSignal, periodMs = 250): Promise<void> {
  const identity = `${p.pid} ${p.startTime ?? "?"}`;
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (signal.aborted || !identityAlive(identity)) {
        clearInterval(t);
        resolve();
      }
    }, periodMs);
    t.unref();
  });
}

/** Waits up to `ms` for the process to end; true if it did. */
export async function waitGone(p: ReattachedProcess, ms: number): Promise<boolean> {
  const identity = `${p.pid} ${p.startTime ?? "?"}`;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!identityAlive(identity)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !identityAlive(identity);
}

/**
 * SIGKILLs the reattached plugin, but only when, right now, the pid has the
 * start time recorded at attach and is verified: a pid reused since is left alone.
 */
export function killReattached(p: ReattachedProcess): "killed" | "gone" | "refused" {
  const now = processStartTime(p.pid);
  if (now === undefined) return "gone";
  if (!p.verified || p.startTime === undefined || now !== p.startTime) return "refused";
  try {
    process.kill(p.pid, "SIGKILL");
    return "killed";
  } catch {
    return "gone";
  }
}
