/**
 * The fast gRPC transport: a grpc-js-compatible channel and server on
 * node:http2 over Unix sockets, wire-compatible with grpc-go and grpc-js.
 */
export { FastChannel, type FastChannelOptions, type FastTlsOptions } from "./channel.ts";
export { FastServer, type FastServerOptions, type FastServerTls, type ServiceRegistrar } from "./server.ts";
export { TransportError, type TransportErrorCode } from "./errors.ts";
