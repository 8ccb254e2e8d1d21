/**
 * The podplug host SDK: start or attach to plugins, dispense typed clients.
 * @packageDocumentation
 */

export { type ErrorCode, isPodplugError, PodplugError } from "../errors.ts";
export type { BackoffOptions } from "../process/backoff.ts";
export type { Broker, BrokerServer, GRPCBroker } from "../protocol/broker.ts";
export type { HandshakeConfig } from "../protocol/env.ts";
export type { Handshake } from "../protocol/handshake.ts";
export type { CertificatePair } from "../protocol/mtls.ts";
export type { ClientConstructor, ClientOf, GRPCPlugin, PluginConnection, PluginSet } from "../protocol/plugin.ts";
export {
  formatReattachConfig,
  parseReattachConfig,
  parseReattachMap,
  type ReattachConfig,
} from "../protocol/reattach.ts";
export { type AttachConfig, sidecarAttach } from "./attach.ts";
export { Client, type ClientConfig, type ConnectContext, type LivenessOptions, type PluginInfo } from "./client.ts";
export type { StdioSinks } from "./connection.ts";
export {
  type DiscoveredPlugin,
  discoverPlugins,
  type PluginChange,
  type PluginPresence,
  requirePlugins,
  watchPlugins,
} from "./discovery.ts";
export { type ClientState, type HostMetrics, hostMetrics } from "./metrics.ts";
export type { PluginCommand } from "./process.ts";
export { OUTAGE_METADATA_KEY, type OutageMode, type OutagePolicy } from "./reconnecting-channel.ts";
export { type ExitOnSignalsOptions, exitOnSignals } from "./signals.ts";
