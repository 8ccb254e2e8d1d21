/**
 * The fast gRPC transport: a grpc-js-compatible channel and server over Unix
 * sockets, wire-compatible with grpc-go and grpc-js peers (standard gRPC over
 * HTTP/2, h2c or TLS with ALPN h2).
 *
 * - {@link FastChannel}: a grpc-js `ChannelInterface`; generated clients take
 *   it through `{ channelOverride }`.
 * - {@link FastServer}: addService / bindAsync / tryShutdown / forceShutdown,
 *   as grpc-js's Server, taking the same ServerCredentials.
 *
 * Both run on podplug's own HTTP/2 frame engine (h2/) by default, or on
 * node:http2 (`engine` / `"podplug.engine"` options, or
 * PODPLUG_HTTP2_ENGINE=node-http2 for both at once).
 */
export { FastChannel, type FastChannelOptions, type FastTlsOptions } from "./channel.ts";
export { defaultEngine, type Engine } from "./dial.ts";
export { TransportError, type TransportErrorCode } from "./errors.ts";
export { FastServer, type FastServerOptions, type FastServerTls, type ServiceRegistrar } from "./server.ts";
