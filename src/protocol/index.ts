/**
 * podplug's wire layer: go-plugin's handshake, broker, controller, stdio,
 * health, AutoMTLS and hclog, with no policy. Plugin and host SDKs build on it.
 * @packageDocumentation
 */

export * from "../constants.ts";
export * from "../errors.ts";
export * from "./broker.ts";
export * from "./env.ts";
export * from "./handshake.ts";
export * from "./hclog.ts";
export * from "./health.ts";
export * from "./logger.ts";
export * from "./mtls.ts";
export * from "./plugin.ts";
export * from "./self-signed.ts";
export * from "./socket.ts";
export * from "./transport.ts";
