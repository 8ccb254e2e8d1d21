/**
 * go-plugin's `GRPCServer` factory is how Go plugins add server options,
 * interceptors above all. podplug's equivalent: `serve({ interceptors })`,
 * functions that run before every call of the plugin's own services (not
 * go-plugin's internal health, broker, controller and stdio, which a host
 * must always reach). One that throws ends the call with the status it
 * threw (`{ code, details }`), before the handler runs.
 */
import type * as grpc from "@grpc/grpc-js";
import type { ServiceRegistrar } from "../protocol/transport.ts";

/** What an interceptor sees of a call. */
export interface InterceptedCall {
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly metadata: grpc.Metadata;
}

/** Runs before the handler; throw `{ code, details }` (a grpc status) to refuse the call. */
export type ServerInterceptor = (call: InterceptedCall) => void | Promise<void>;

type Handler = (...args: unknown[]) => unknown;
type MethodDef = { path: string; requestStream: boolean; responseStream: boolean };

async function runAll(interceptors: readonly ServerInterceptor[], call: InterceptedCall): Promise<void> {
  for (const i of interceptors) await i(call);
}

function asStatus(err: unknown): Partial<grpc.ServiceError> {
  const e = err as Partial<grpc.ServiceError>;
  return {
    code: typeof e?.code === "number" ? e.code : 2,
    details: e?.details ?? (err as Error)?.message ?? String(err),
  };
}

/** A registrar whose services run `interceptors` before each handler. */
export function intercepted(server: ServiceRegistrar, interceptors: readonly ServerInterceptor[]): ServiceRegistrar {
  if (interceptors.length === 0) return server;
  return {
    addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
      const wrapped: grpc.UntypedServiceImplementation = {};
      for (const [name, handler] of Object.entries(impl)) {
        const m = (def as unknown as Record<string, MethodDef>)[name];
        const h = handler as Handler;
        if (!m) {
          wrapped[name] = handler;
          continue;
        }
        const unaryLike = !m.responseStream;
        wrapped[name] = ((call: { metadata: grpc.Metadata; emit(e: string, v: unknown): void }, cb?: Handler) => {
          runAll(interceptors, { path: m.path, metadata: call.metadata }).then(
            () => (unaryLike ? h(call, cb) : h(call)),
            (err: unknown) => {
              // Unary and client-streaming answer through the callback; a response stream's 'error' is its status.
              if (unaryLike) cb?.(asStatus(err));
              else call.emit("error", asStatus(err));
            },
          );
        }) as never;
      }
      server.addService(def, wrapped);
    },
  } as ServiceRegistrar;
}
