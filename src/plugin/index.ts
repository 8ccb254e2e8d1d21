/**
 * The podplug plugin SDK: implement a gRPC service, call `serve()`.
 * @packageDocumentation
 */
export { serve, type ServeConfig, type ServedPlugin } from "./serve.ts";
export { HANDSHAKE_FILE_NAME, SIDECAR_SOCKET_NAME } from "../protocol/sidecar.ts";
export type { HandshakeConfig } from "../protocol/env.ts";
export type { GRPCPlugin, PluginSet, PluginConnection, ClientConstructor } from "../protocol/plugin.ts";
export type { Broker, GRPCBroker, BrokerServer } from "../protocol/broker.ts";
export type { Logger } from "../protocol/logger.ts";
export { PodplugError, isPodplugError, type ErrorCode } from "../protocol/errors.ts";
