import { PodplugError } from "../errors.ts";

/** go-plugin's core protocol version: the first field of every handshake line. */
export const CORE_PROTOCOL_VERSION = 1;

/** Transport protocols a handshake line may name. podplug serves and speaks gRPC only. */
export type WireProtocol = "grpc" | "netrpc";

/** The parsed handshake line a plugin announces: `CORE|APP|NETWORK|ADDR|PROTOCOL|SERVER-CERT[|MUX]`. */
export interface Handshake {
  /** Core protocol version; always {@link CORE_PROTOCOL_VERSION}. */
  core: number;
  /** The negotiated application protocol version. */
  appVersion: number;
  /** `unix` or `tcp`. */
  network: "unix" | "tcp";
  /** Socket path (unix) or host:port (tcp). */
  address: string;
  protocol: WireProtocol;
  /** Base64 (no padding) DER of the plugin's certificate with AutoMTLS, else `""`. */
  serverCert: string;
  /** Seventh field: present only when the host asked for broker multiplexing. */
  multiplex?: boolean;
}

/**
 * The longest handshake line accepted: go-plugin's longest real one (a unix
 * socket path and an AutoMTLS certificate in base64) is under 2 KiB.
 */
export const MAX_HANDSHAKE_LINE = 16 * 1024;

/** Formats the line exactly as go-plugin's `Serve` prints it (without the newline). */
export function formatHandshake(h: Handshake): string {
  const line = `${h.core}|${h.appVersion}|${h.network}|${h.address}|${h.protocol}|${h.serverCert}`;
  return h.multiplex === undefined ? line : `${line}|${h.multiplex}`;
}

/** What a host accepts when it reads a handshake line. */
export interface HandshakeExpectations {
  /** App versions the host offered (its plugin map's versions); "any" for a reader that needs only the address (the agent). */
  versions: readonly number[] | "any";
  /** Protocols the host allows; podplug hosts allow only `grpc`. */
  protocols?: readonly WireProtocol[];
  /** Networks the host can dial. */
  networks?: readonly ("unix" | "tcp")[];
  /** True when the host sent `PLUGIN_MULTIPLEX_GRPC`: the 7th field must then say `true`. */
  multiplex?: boolean;
  /** Where the line came from, for error messages (a plugin name or file path). */
  source?: string;
}

/**
 * Parses and validates a handshake line the way go-plugin's client does, with
 * a coded error for each way it can be wrong. Extra fields are tolerated.
 */
export function parseHandshake(raw: string, expect: HandshakeExpectations): Handshake {
  // Messages read as sentences: "Plugin kv sent ...", "The plugin announced in /x/handshake sent ...".
  const who =
    expect.source === undefined
      ? "the plugin"
      : expect.source.includes("/")
        ? `the plugin announced in ${expect.source}`
        : expect.source;
  const Who = who[0]!.toUpperCase() + who.slice(1);
  const where = ` from ${who}`;
  if (raw.length > MAX_HANDSHAKE_LINE) {
    // Line reading hands on at most 64 KiB at a time; a line this long is never a handshake.
    throw new PodplugError(
      "HANDSHAKE_MALFORMED",
      `The first stdout line${where} is longer than ${MAX_HANDSHAKE_LINE} characters (it starts ${JSON.stringify(truncate(raw))}): not a handshake. ` +
        `A plugin must print "CORE|APP|NETWORK|ADDR|PROTOCOL|CERT" as its first stdout line; check that it calls serve() before writing anything to stdout.`,
      { length: raw.length },
    );
  }
  const line = raw.trim();
  const parts = line.split("|");
  if (parts.length < 4) {
    throw new PodplugError(
      "HANDSHAKE_MALFORMED",
      `Unrecognized remote plugin message${where}: ${JSON.stringify(truncate(line))}. ` +
        `A plugin must print "CORE|APP|NETWORK|ADDR|PROTOCOL|CERT" as its first stdout line; ` +
        `check that it calls serve() before writing anything to stdout.`,
      { line },
    );
  }
  const core = parseIntStrict(parts[0]!);
  if (core === undefined) {
    throw new PodplugError(
      "HANDSHAKE_MALFORMED",
      `Error parsing the core protocol version ${JSON.stringify(parts[0])}${where}: not an integer.`,
      { line },
    );
  }
  if (core !== CORE_PROTOCOL_VERSION) {
    throw new PodplugError(
      "HANDSHAKE_CORE_VERSION",
      `Incompatible core API version: ${who} speaks ${JSON.stringify(parts[0])}, ` +
        `this host speaks ${CORE_PROTOCOL_VERSION}. Rebuild the plugin against a current SDK.`,
      { line },
    );
  }
  const appVersion = parseIntStrict(parts[1]!);
  if (appVersion === undefined) {
    throw new PodplugError(
      "HANDSHAKE_MALFORMED",
      `Error parsing the protocol version ${JSON.stringify(parts[1])}${where}: not an integer.`,
      { line },
    );
  }
  if (expect.versions !== "any" && !expect.versions.includes(appVersion)) {
    throw new PodplugError(
      "HANDSHAKE_APP_VERSION",
      `Incompatible API version with ${who}. Plugin version: ${appVersion}, ` +
        `Client versions: [${expect.versions.join(" ")}]. Upgrade whichever side is older.`,
      { line, appVersion, offered: [...expect.versions] },
    );
  }
  const network = parts[2]!;
  const networks = expect.networks ?? ["unix", "tcp"];
  if (network !== "unix" && network !== "tcp") {
    throw new PodplugError(
      "HANDSHAKE_NETWORK",
      `Unknown address type ${JSON.stringify(network)}${where}: expected unix or tcp.`,
      { line },
    );
  }
  if (!networks.includes(network)) {
    throw new PodplugError(
      "HANDSHAKE_NETWORK",
      `${Who} listens on ${network}, which this host does not allow (allowed: ${networks.join(", ")}).`,
      { line },
    );
  }
  const address = parts[3]!;
  if (address === "") {
    throw new PodplugError("HANDSHAKE_MALFORMED", `${Who} announced an empty address.`, { line });
  }
  // go-plugin defaults a missing protocol field to netrpc.
  const protocol = parts.length >= 5 ? parts[4]! : "netrpc";
  const protocols = expect.protocols ?? ["grpc"];
  if (!(protocols as readonly string[]).includes(protocol)) {
    throw new PodplugError(
      "HANDSHAKE_PROTOCOL",
      `Unsupported plugin protocol ${JSON.stringify(protocol)}${where}. Supported: [${protocols.join(" ")}]. ` +
        `podplug speaks gRPC only: serve the plugin with a GRPCServer.`,
      { line },
    );
  }
  // go-plugin treats field 6 as a certificate only when longer than 50 characters.
  const certField = parts[5] ?? "";
  const serverCert = certField.length > 50 ? certField : "";
  if (serverCert !== "" && !/^[A-Za-z0-9+/]+$/.test(serverCert)) {
    throw new PodplugError("HANDSHAKE_CERT", `Error parsing the server certificate${where}: not unpadded base64 DER.`, {
      line,
    });
  }
  let multiplex: boolean | undefined;
  if (parts.length >= 7) multiplex = parseBool(parts[6]!);
  if (expect.multiplex) {
    if (parts.length < 7) {
      throw new PodplugError(
        "MULTIPLEX_UNSUPPORTED",
        `gRPC broker multiplexing is not supported by ${who}: its handshake has no 7th field.`,
        { line },
      );
    }
    if (multiplex === undefined) {
      throw new PodplugError(
        "HANDSHAKE_MALFORMED",
        `Error parsing ${JSON.stringify(parts[6])}${where} as a boolean for gRPC broker multiplexing support.`,
        { line },
      );
    }
    if (!multiplex) {
      throw new PodplugError("MULTIPLEX_UNSUPPORTED", `gRPC broker multiplexing is not supported by ${who}.`, {
        line,
      });
    }
  }
  const h: Handshake = { core, appVersion, network, address, protocol: protocol as WireProtocol, serverCert };
  if (multiplex !== undefined) h.multiplex = multiplex;
  return h;
}

function parseIntStrict(s: string): number | undefined {
  return /^[+-]?\d{1,9}$/.test(s) ? Number.parseInt(s, 10) : undefined;
}

/** Go's strconv.ParseBool. */
export function parseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

function truncate(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
