/**
 * `podplug run`'s stand-in for podplug-launcher (docs/launcher.md). The npm
 * package carries no Go binary, so the local runtime recognises what the
 * injection wrote — the `copy` init container, plugin commands under
 * `podplug-launcher run --`, exec probes of `probe` and `ready` — and does
 * the launcher's job itself, in-process, with the same rules: the first
 * stdout line announced through the handshake file after its version is
 * checked, one gRPC health Check within the probe's budget, the host SDK's
 * host-state.json for host readiness.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type ChannelCredentials, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { V1Container } from "@kubernetes/client-node";
import { HOST_ENV, HOST_STATE_FILE_NAME, PLUGIN_ENV, PLUGIN_HEALTH_SERVICE, SIDECAR_ENV } from "../constants.ts";
import { HealthClient, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health.ts";
import { IMAGE_LAUNCHER_BIN, LAUNCHER_BIN } from "../inject/conventions.ts";
import { type Handshake, parseHandshake } from "../protocol/handshake.ts";
import { readHostCertificate } from "../protocol/host-certificate.ts";
import { handshakeFieldToCert } from "../protocol/mtls.ts";
import { findPluginEndpoint } from "../protocol/sidecar.ts";
import { mtlsTransport } from "../protocol/transport.ts";

/** The injected init container that copies the launcher: nothing to do locally. */
export function isLauncherCopy(c: V1Container): boolean {
  return c.command?.[0] === IMAGE_LAUNCHER_BIN;
}

/** The plugin's own command when `command` is `podplug-launcher run [--] CMD...`; else undefined. */
export function unwrapRun(command: readonly string[]): string[] | undefined {
  if (command[0] !== LAUNCHER_BIN || command[1] !== "run") return undefined;
  return command.slice(command[2] === "--" ? 3 : 2);
}

/** True when an exec probe runs the launcher (`probe`, `ready`), which {@link launcherExec} answers. */
export function isLauncherExec(command: readonly string[] | undefined): boolean {
  return command?.[0] === LAUNCHER_BIN;
}

/** What the launcher decides about a plugin's first stdout line. */
export type Announcement =
  | { ok: true; line: string; handshake: Handshake }
  | { ok: false; code: "LAUNCHER_BAD_HANDSHAKE" | "LAUNCHER_PROTOCOL_VERSION"; message: string };

/** The launcher's verdict on `line` for a plugin whose container environment is `env`. */
export function announce(line: string, env: Record<string, string | undefined>): Announcement {
  const name = env[SIDECAR_ENV.pluginName] ?? "(unnamed)";
  let h: Handshake;
  try {
    h = parseHandshake(line, { versions: "any", source: `plugin ${name}` });
  } catch (err) {
    return {
      ok: false,
      code: "LAUNCHER_BAD_HANDSHAKE",
      message: `the plugin's first stdout line: ${(err as Error).message}`,
    };
  }
  const allowed = (env[PLUGIN_ENV.protocolVersions] ?? "")
    .split(",")
    .filter((v) => v.trim() !== "")
    .map(Number);
  if (allowed.length > 0 && !allowed.includes(h.appVersion)) {
    return {
      ok: false,
      code: "LAUNCHER_PROTOCOL_VERSION",
      message: `plugin ${name} serves protocol version ${h.appVersion}; its Plugin allows ${allowed.join(", ")}. Run an image that serves one of them, or add ${h.appVersion} to the Plugin's spec.handshake.protocolVersions if the hosts speak it; stopping the plugin`,
    };
  }
  return { ok: true, line: line.trim(), handshake: h };
}

/**
 * Answers an exec probe of the launcher (`probe -timeout D`, `ready PLUGIN...`)
 * for a container with environment `env`: undefined when it passes, else the
 * reason the real launcher would print.
 */
export async function launcherExec(
  command: readonly string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<string | undefined> {
  const [, sub, ...args] = command;
  try {
    if (sub === "probe") {
      const i = args.findIndex((a) => a === "-timeout" || a.startsWith("-timeout="));
      const raw = i < 0 ? undefined : args[i]!.includes("=") ? args[i]!.split("=")[1] : args[i + 1];
      const budget = raw?.endsWith("ms") ? Number(raw.slice(0, -2)) : timeoutMs;
      await probePlugin(env, Math.min(Number.isFinite(budget) ? budget : timeoutMs, timeoutMs));
      return undefined;
    }
    if (sub === "ready") return await hostReady(env[HOST_ENV.socketRoot], args);
    return `podplug-launcher: unknown subcommand ${JSON.stringify(sub)}`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** One health Check of the plugin whose handshake file `env` names, as `podplug-launcher probe` does. */
async function probePlugin(env: Record<string, string>, budgetMs: number): Promise<void> {
  const file = env[SIDECAR_ENV.handshakeFile];
  if (!file) throw new Error(`${SIDECAR_ENV.handshakeFile} is not set`);
  const dir = dirname(file);
  const ep = await findPluginEndpoint(dir, Math.min(500, budgetMs));
  if (ep.kind === "none") throw new Error(`no handshake file and no live plugin* socket in ${dir}`);
  let socket: string;
  let serverCert: string | undefined;
  if (ep.kind === "file") {
    const h = parseHandshake(ep.line, { versions: "any", networks: ["unix"], source: ep.file });
    socket = h.address;
    serverCert = h.serverCert || undefined;
  } else socket = ep.socket;
  const creds = await probeCredentials(env[HOST_ENV.mtlsRoot], env[SIDECAR_ENV.pluginName] ?? "", serverCert);
  await checkHealth(socket, budgetMs, creds);
}

/** Plaintext without a certificate in the handshake; else mutual TLS with the mounted host certificate. */
async function probeCredentials(
  mtlsRoot: string | undefined,
  name: string,
  serverCert: string | undefined,
): Promise<ChannelCredentials> {
  if (!serverCert) return credentials.createInsecure();
  const own = mtlsRoot ? await readHostCertificate(join(mtlsRoot, name)) : undefined;
  if (!own) throw new Error(`plugin ${name} serves AutoMTLS but no host certificate is mounted`);
  return mtlsTransport(own, handshakeFieldToCert(serverCert, `plugin ${name}`)).channel;
}

/** Resolves when the plugin at `socket` reports SERVING within `timeoutMs`. */
function checkHealth(socket: string, timeoutMs: number, creds: ChannelCredentials): Promise<void> {
  const client = new HealthClient(`unix://${socket}`, creds);
  return new Promise<void>((resolve, reject) => {
    client.check(
      { service: PLUGIN_HEALTH_SERVICE },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err: ServiceError | null, res) => {
        client.close();
        if (err)
          reject(new Error(`health check over ${socket} failed within ${timeoutMs}ms: ${err.code} ${err.details}`));
        else if (res?.status !== Status.SERVING)
          reject(new Error(`plugin at ${socket} reports ${res?.status}, not SERVING`));
        else resolve();
      },
    );
  });
}

/** undefined when every plugin's host-state.json says ready; else why not (`podplug-launcher ready`). */
async function hostReady(root: string | undefined, plugins: string[]): Promise<string | undefined> {
  if (!root) return `${HOST_ENV.socketRoot} is not set`;
  for (const p of plugins) {
    const file = join(root, p, HOST_STATE_FILE_NAME);
    let state: { version?: unknown; plugin?: unknown; state?: unknown; reason?: unknown };
    try {
      state = JSON.parse(await readFile(file, "utf8")) as typeof state;
    } catch (err) {
      return `plugin ${p}: no usable ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the host has not attached yet`;
    }
    if (state.version !== 1 || state.plugin !== p)
      return `plugin ${p}: ${file} is not a version 1 host state file for ${p}`;
    if (state.state !== "ready")
      return `plugin ${p}: the host is ${String(state.state)}${state.reason ? `: ${String(state.reason)}` : ""}`;
  }
  return undefined;
}
