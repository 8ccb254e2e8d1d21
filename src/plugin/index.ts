/**
 * The podplug plugin SDK: implement a gRPC service, call `serve()`.
 * @packageDocumentation
 */

export { HANDSHAKE_FILE_NAME, SIDECAR_SOCKET_NAME } from "../constants.ts";
export { type ErrorCode, isPodplugError, PodplugError } from "../errors.ts";
export type { Broker, BrokerServer, GRPCBroker } from "../protocol/broker.ts";
export type { HandshakeConfig } from "../protocol/env.ts";
export type { Logger } from "../protocol/logger.ts";
export type { ClientConstructor, GRPCPlugin, PluginConnection, PluginSet } from "../protocol/plugin.ts";
export type { InterceptedCall, ServerInterceptor } from "./interceptors.ts";
export { type ServeConfig, type ServedPlugin, serve, type TlsMaterial } from "./serve.ts";
