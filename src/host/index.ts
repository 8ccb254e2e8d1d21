/**
 * The podplug host SDK: start or attach to plugins, dispense typed clients.
 * @packageDocumentation
 */
export { Client, type ClientConfig, type PluginInfo, type ConnectContext, type LivenessOptions } from "./client.ts";
export { OUTAGE_METADATA_KEY, type OutageMode, type OutagePolicy } from "./reconnecting-channel.ts";
export { hostMetrics, type ClientState, type HostMetrics } from "./metrics.ts";
export type { BackoffOptions } from "./backoff.ts";
export { sidecarAttach, type AttachConfig } from "./attach.ts";
export type { PluginCommand } from "./process.ts";
export type { StdioSinks } from "./connection.ts";
export type { HandshakeConfig } from "../protocol/env.ts";
export type { GRPCPlugin, PluginSet, PluginConnection, ClientConstructor, ClientOf } from "../protocol/plugin.ts";
export type { Broker, GRPCBroker, BrokerServer } from "../protocol/broker.ts";
export type { Handshake } from "../protocol/handshake.ts";
export type { CertificatePair } from "../protocol/mtls.ts";
export { PodplugError, isPodplugError, type ErrorCode } from "../protocol/errors.ts";
