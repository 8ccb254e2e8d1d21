/**
 * The counter of go-plugin's examples/bidirectional: `put` hands the plugin
 * the broker id of an AddHelper the host serves, and the plugin calls back
 * into the host to add. Same wire names as the Go example.
 */
import type * as grpc from "@grpc/grpc-js";
import {
  AddHelperClient,
  type AddHelperServer,
  AddHelperService,
  CounterClient,
  type CounterServer,
  CounterService,
} from "../../src/gen/examples/counter/counter.ts";
import type { Broker, GRPCPlugin, HandshakeConfig } from "../../src/host/index.ts";

export const handshake: HandshakeConfig = {
  protocolVersion: 1,
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
};

/** The host's callback the plugin uses. */
export interface AddHelper {
  sum(a: bigint, b: bigint): Promise<bigint>;
}

/** What the host programs against. */
export interface Counter {
  get(key: string): Promise<bigint>;
  put(key: string, value: bigint, helper: AddHelper): Promise<void>;
}

/** The plugin-map entry; `impl` on the plugin side. */
export function counterPlugin(impl?: Counter): GRPCPlugin<Counter> {
  return {
    grpcServer: (broker, server) => {
      if (!impl) throw new Error("counterPlugin: no implementation to serve");
      server.addService(CounterService, counterServer(impl, broker));
    },
    grpcClient: (broker, conn) => {
      const c = conn.client(CounterClient);
      return {
        get: (key) => new Promise((res, rej) => c.get({ key }, (err, r) => (err ? rej(err) : res(r.value)))),
        put: async (key, value, helper) => {
          // Serve the callback under a fresh broker id for the length of the call, as go-plugin's example does.
          const id = broker.nextId();
          const impl: AddHelperServer = {
            sum: (call, cb) =>
              helper.sum(call.request.a, call.request.b).then(
                (r) => cb(null, { r }),
                (err: Error) => cb({ code: 2, details: err.message }),
              ),
          };
          const served = await broker.acceptAndServe(id, (s) => s.addService(AddHelperService, impl));
          try {
            await new Promise<void>((res, rej) =>
              c.put({ addServer: id, key, value }, (err) => (err ? rej(err) : res())),
            );
          } finally {
            served.close();
          }
        },
      };
    },
  };
}

function counterServer(impl: Counter, broker: Broker): CounterServer {
  return {
    get: (call, cb) =>
      impl.get(call.request.key).then(
        (value) => cb(null, { value }),
        (err: Error) => cb(status(err)),
      ),
    put: async (call, cb) => {
      try {
        const add = await broker.dialClient(call.request.addServer, AddHelperClient);
        try {
          const helper: AddHelper = {
            sum: (a, b) => new Promise((res, rej) => add.sum({ a, b }, (err, r) => (err ? rej(err) : res(r.r)))),
          };
          await impl.put(call.request.key, call.request.value, helper);
          cb(null, {});
        } finally {
          add.close();
        }
      } catch (err) {
        cb(status(err as Error));
      }
    },
  };
}

function status(err: Error): Partial<grpc.ServiceError> {
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === "number" ? code : 2, details: err.message };
}
