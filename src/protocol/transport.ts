/**
 * How both sides open gRPC over a Unix socket: credentials (insecure or
 * AutoMTLS), the message limits go-plugin uses, and which implementation
 * carries the calls. By default that is podplug's own transport
 * (src/transport: same wire, a fraction of grpc-js's CPU per call);
 * `PODPLUG_TRANSPORT=grpc-js` switches both sides back to grpc-js.
 */
import * as grpc from "@grpc/grpc-js";
import { TRANSPORT_ENV } from "../constants.ts";
import { PodplugError } from "../errors.ts";
import { PodplugChannel, PodplugServer, type ServiceRegistrar, type TransportError } from "../transport/index.ts";
import type { CertificatePair } from "./mtls.ts";

/** Credentials for one connection's two ends, shared by the main socket and broker sockets. */
export interface TransportSecurity {
  /** grpc-js credentials (generated clients take them even on a channel they do not own). */
  channel: grpc.ChannelCredentials;
  server: grpc.ServerCredentials;
  /** The PEMs under AutoMTLS: the peer's certificate (our only CA), our key and certificate. */
  pems?: { peerCertPem: string; keyPem: string; certPem: string };
}

/** What plugin code registers services on: grpc-js's Server and podplug's PodplugServer both fit. */
export type { ServiceRegistrar };

/** A gRPC server podplug can bind to a Unix socket and shut down: grpc-js's or podplug's own. */
export type PluginServer = grpc.Server | PodplugServer;

/** Plain gRPC over the socket (go-plugin without AutoMTLS). */
export function insecureTransport(): TransportSecurity {
  return { server: grpc.ServerCredentials.createInsecure(), channel: grpc.credentials.createInsecure() };
}

/**
 * Mutual TLS where each side trusts exactly the peer's self-signed certificate,
 * as go-plugin's AutoMTLS does (the certificate is its own CA).
 */
export function mtlsTransport(own: CertificatePair, peerCertPem: string): TransportSecurity {
  const peer = Buffer.from(peerCertPem);
  const key = Buffer.from(own.keyPem);
  const cert = Buffer.from(own.certPem);
  return {
    server: grpc.ServerCredentials.createSsl(peer, [{ private_key: key, cert_chain: cert }], true),
    channel: grpc.credentials.createSsl(peer, key, cert),
    pems: { peerCertPem, keyPem: own.keyPem, certPem: own.certPem },
  };
}

/** go-plugin dials with MaxInt32 message limits both ways. */
export const MAX_INT32 = 2_147_483_647;

/**
 * The largest message a host accepts from a plugin by default: grpc-go's and
 * grpc-js's 4 MiB. Not go-plugin's MaxInt32: with it, one message (or one
 * compressed message, inflated) could make the host buffer 2 GiB.
 */
export const DEFAULT_HOST_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** The host's receive limit: PODPLUG_MAX_RECEIVE_MESSAGE_BYTES (bytes, or -1 for none), else the default. */
export function hostMaxReceiveBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[TRANSPORT_ENV.maxReceiveMessageBytes];
  if (raw === undefined || raw === "") return DEFAULT_HOST_MAX_RECEIVE_BYTES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < -1 || n > MAX_INT32)
    throw new PodplugError(
      "ENV_INVALID",
      `${TRANSPORT_ENV.maxReceiveMessageBytes}=${JSON.stringify(raw)} is not a byte count; give an integer from 0 to ${MAX_INT32}, or -1 for no limit.`,
      { variable: TRANSPORT_ENV.maxReceiveMessageBytes, value: raw },
    );
  return n === -1 ? MAX_INT32 : n;
}

/** Which implementation carries gRPC: podplug's own transport (default) or grpc-js. */
export function transportKind(env: NodeJS.ProcessEnv = process.env): "podplug" | "grpc-js" {
  return env[TRANSPORT_ENV.transport] === "grpc-js" ? "grpc-js" : "podplug";
}

/**
 * A channel to a Unix socket. `onPeerError` hears of a peer that broke HTTP/2
 * or one of the engine's limits (its connection is closed for it), for the log.
 */
export function dialUnix(
  path: string,
  security: TransportSecurity,
  onPeerError?: (err: TransportError) => void,
): grpc.ChannelInterface {
  if (transportKind() === "podplug") {
    const p = security.pems;
    return new PodplugChannel(`unix://${path}`, {
      ...(onPeerError ? { onPeerError } : {}),
      maxReceiveMessageLength: hostMaxReceiveBytes(),
      maxSendMessageLength: MAX_INT32,
      ...(p ? { tls: { ca: p.peerCertPem, key: p.keyPem, cert: p.certPem, servername: "localhost" } } : {}),
    });
  }
  return new grpc.Channel(`unix://${path}`, security.channel, channelOptions(security.pems !== undefined));
}

/** grpc-js channel options for a connection to a plugin (or a broker service). */
export function channelOptions(tls: boolean): grpc.ChannelOptions {
  const o: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": hostMaxReceiveBytes(),
    "grpc.max_send_message_length": MAX_INT32,
    // Fail fast on a dead socket rather than spinning for minutes; recovery re-dials.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
  };
  // go-plugin's certificates name `localhost`; the socket path is no host name.
  if (tls) o["grpc.ssl_target_name_override"] = "localhost";
  return o;
}

/** A server for a plugin's socket or a broker service; `maxReceiveBytes` as grpc's option; `onPeerError` as dialUnix's. */
export function newServer(maxReceiveBytes: number, onPeerError?: (err: TransportError) => void): PluginServer {
  const opts = {
    "grpc.max_receive_message_length": maxReceiveBytes,
    "grpc.max_send_message_length": -1,
    ...(onPeerError ? { "podplug.onPeerError": onPeerError } : {}),
  };
  return transportKind() === "podplug" ? new PodplugServer(opts) : new grpc.Server(opts);
}

/** Binds `server` to a Unix socket path: grpc-js takes its credentials, podplug's server the PEMs they were made of. */
export function bindUnix(server: PluginServer, path: string, security: TransportSecurity): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null): void => (err ? reject(err) : resolve());
    if (server instanceof PodplugServer) {
      const p = security.pems;
      server.bindAsync(
        `unix://${path}`,
        p ? { ca: p.peerCertPem, key: p.keyPem, cert: p.certPem, requireClientCert: true } : null,
        done,
      );
    } else {
      server.bindAsync(`unix://${path}`, security.server, done);
    }
  });
}
