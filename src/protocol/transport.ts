/**
 * How both sides open gRPC over a Unix socket: credentials (insecure or
 * AutoMTLS) and the channel options go-plugin uses (message limits MaxInt32).
 */
import * as grpc from "@grpc/grpc-js";
import type { CertificatePair } from "./mtls.ts";

/** Credentials for one connection's two ends, shared by the main socket and broker sockets. */
export interface TransportSecurity {
  server: grpc.ServerCredentials;
  channel: grpc.ChannelCredentials;
  /** True under AutoMTLS. */
  tls: boolean;
}

/** Plain gRPC over the socket (go-plugin without AutoMTLS). */
export function insecureTransport(): TransportSecurity {
  return { server: grpc.ServerCredentials.createInsecure(), channel: grpc.credentials.createInsecure(), tls: false };
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
    tls: true,
  };
}

/** go-plugin dials with MaxInt32 message limits both ways. */
export const MAX_INT32 = 2_147_483_647;

/** Channel options for a connection to a plugin (or a broker service). */
export function channelOptions(tls: boolean): grpc.ChannelOptions {
  const o: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": MAX_INT32,
    "grpc.max_send_message_length": MAX_INT32,
    // Fail fast on a dead socket rather than spinning for minutes; recovery re-dials.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
  };
  // go-plugin's certificates name `localhost`; the socket path is no host name.
  if (tls) o["grpc.ssl_target_name_override"] = "localhost";
  return o;
}

/** A channel to a Unix socket. */
export function dialUnix(path: string, security: TransportSecurity, extra: grpc.ChannelOptions = {}): grpc.Channel {
  return new grpc.Channel(`unix://${path}`, security.channel, { ...channelOptions(security.tls), ...extra });
}

/** Binds `server` to a Unix socket path. */
export function bindUnix(server: grpc.Server, path: string, security: TransportSecurity): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix://${path}`, security.server, (err) => (err ? reject(err) : resolve()));
  });
}
