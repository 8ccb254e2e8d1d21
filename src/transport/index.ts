/**
 * podplug's gRPC transport: a grpc-js-compatible channel and server over Unix
 * sockets, wire-compatible with grpc-go and grpc-js peers (standard gRPC over
 * HTTP/2, h2c or TLS with ALPN h2).
 *
 * - {@link PodplugChannel}: a grpc-js `ChannelInterface`; generated clients take
 *   it through `{ channelOverride }`.
 * - {@link PodplugServer}: addService / bindAsync / tryShutdown / forceShutdown,
 *   as grpc-js's Server, taking TLS as PEMs (or null for h2c).
 *
 * The folder in three layers: the gRPC call layer here (channel, server,
 * client-call, server-call, message-framing, metadata, status, compression;
 * wire.ts is its seam to the engines), podplug's HTTP/2 connection in h2/,
 * and the engines that put calls on a connection in engines/: podplug's own
 * (podplug-h2-*, the default) or node:http2 (node-http2-*), picked by the
 * `engine` / `"podplug.engine"` options or PODPLUG_HTTP2_ENGINE=node-http2
 * for both at once.
 */
export { type ChannelTlsOptions, PodplugChannel, type PodplugChannelOptions } from "./channel.ts";
export { defaultEngine, type Engine } from "./engines/dial.ts";
export type { BudgetUse } from "./engines/podplug-h2-server.ts";
export { TransportError, type TransportErrorCode } from "./errors.ts";
export { DEFAULT_SERVER_BUDGET, type ServerBudget } from "./h2/byte-budget.ts";
export { DEFAULT_H2_LIMITS, type H2Limits } from "./h2/limits.ts";
export { PodplugServer, type PodplugServerOptions, type ServerTlsOptions, type ServiceRegistrar } from "./server.ts";
