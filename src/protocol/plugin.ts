/**
 * The plugin map, as in go-plugin: each named plugin knows how to register
 * its gRPC services on the plugin's server and how to build the host's
 * client over the connection. The same object serves both sides.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Broker } from "./broker.ts";
import type { ServiceRegistrar } from "./transport.ts";

/** A generated grpc-js client class (ts-proto's `KVClient`, ...). */
export type ClientConstructor<C> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ClientOptions,
) => C;

/** The host's connection to one plugin process. */
export interface PluginConnection {
  /** The gRPC channel to the plugin (it survives plugin restarts in the host SDK). */
  readonly channel: grpc.ChannelInterface;
  /** Builds a generated client class that shares this connection. */
  client<C>(ctor: ClientConstructor<C>): C;
}

/** go-plugin's GRPCPlugin: one interface a plugin offers, `C` being the host's client type. */
export interface GRPCPlugin<C = unknown> {
  /** Plugin side: register the implementation on the plugin's server. */
  grpcServer?(broker: Broker, server: ServiceRegistrar): void | Promise<void>;
  /** Host side: build the typed client the host's `dispense()` returns. */
  grpcClient?(broker: Broker, conn: PluginConnection): C;
}

/** go-plugin's PluginSet: plugins by name. */
export type PluginSet = Record<string, GRPCPlugin<unknown>>;

/** The client type a plugin entry produces. */
export type ClientOf<P> = P extends GRPCPlugin<infer C> ? C : never;
