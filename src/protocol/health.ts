/**
 * grpc.health.v1 on the plugin side. go-plugin registers service "plugin" as
 * SERVING; Watch lets a host learn of NOT_SERVING at once instead of polling.
 */
import type * as grpc from "@grpc/grpc-js";
import { PLUGIN_HEALTH_SERVICE } from "../constants.ts";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
  HealthCheckResponse_ServingStatus as Status,
} from "../gen/grpc/health/v1/health.ts";

export type ServingStatus = (typeof Status)[keyof typeof Status];

/** A health service whose statuses the plugin can change at run time. */
export class PluginHealth {
  private readonly statuses = new Map<string, ServingStatus>([
    ["", Status.SERVING],
    [PLUGIN_HEALTH_SERVICE, Status.SERVING],
  ]);
  private readonly watchers = new Map<
    string,
    Set<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>
  >();

  /** Sets a service's status and tells every watcher. */
  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers.get(service) ?? []) w.write({ status });
  }

  /** Marks every service NOT_SERVING (on shutdown) and ends the watches. */
  shutdown(): void {
    for (const s of this.statuses.keys()) this.setStatus(s, Status.NOT_SERVING);
    for (const set of this.watchers.values()) for (const w of set) w.end();
    this.watchers.clear();
  }

  /** The grpc-js implementation to register with `HealthService` definition. */
  implementation(): HealthServer {
    return {
      check: (call, cb) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) cb({ code: 5, details: `unknown service ${call.request.service}` });
        else cb(null, { status });
      },
      list: (_call, cb) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const [k, v] of this.statuses) statuses[k] = { status: v };
        cb(null, { statuses });
      },
      watch: (call) => {
        const service = call.request.service;
        call.write({ status: this.statuses.get(service) ?? Status.SERVICE_UNKNOWN });
        let set = this.watchers.get(service);
        if (!set) this.watchers.set(service, (set = new Set()));
        set.add(call);
        const drop = (): void => void set.delete(call);
        call.on("cancelled", drop);
        call.on("close", drop);
      },
    };
  }
}
