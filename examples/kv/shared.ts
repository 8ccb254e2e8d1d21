/**
 * The key/value interface of go-plugin's examples/grpc, shared by the
 * TypeScript plugin and host. Same handshake as the Go example, so each side
 * also works with its Go counterpart.
 */
import type * as grpc from "@grpc/grpc-js";
import { KVClient, type KVServer, KVService } from "../../src/gen/examples/kv/kv.ts";
import type { GRPCPlugin, HandshakeConfig } from "../../src/host/index.ts";

export const handshake: HandshakeConfig = {
  protocolVersion: 1,
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
};

/** What the host programs against. */
export interface KV {
  get(key: string): Promise<Buffer>;
  put(key: string, value: Buffer): Promise<void>;
}

/** Plugin side: wraps an implementation as the gRPC service. */
export function kvServer(impl: KV): KVServer {
  return {
    get: (call, cb) =>
      impl.get(call.request.key).then(
        (value) => cb(null, { value }),
        (err: Error) => cb(toStatus(err)),
      ),
    put: (call, cb) =>
      impl.put(call.request.key, call.request.value).then(
        () => cb(null, {}),
        (err: Error) => cb(toStatus(err)),
      ),
  };
}

/** The plugin-map entry: `impl` on the plugin side, nothing on the host side. */
export function kvPlugin(impl?: KV): GRPCPlugin<KV> {
  return {
    grpcServer: (_broker, server) => {
      if (!impl) throw new Error("kvPlugin: no implementation to serve");
      server.addService(KVService, kvServer(impl));
    },
    grpcClient: (_broker, conn) => {
      const c = conn.client(KVClient);
      return {
        get: (key) => new Promise((res, rej) => c.get({ key }, (err, r) => (err ? rej(err) : res(r.value)))),
        put: (key, value) => new Promise((res, rej) => c.put({ key, value }, (err) => (err ? rej(err) : res()))),
      };
    },
  };
}

function toStatus(err: Error): Partial<grpc.ServiceError> {
  return { code: 2, details: err.message };
}
