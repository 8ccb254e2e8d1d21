/**
 * The broker a dispensed client holds: it outlives plugin restarts by
 * handing each call to the broker of the connection that is live now. Ids
 * keep counting across connections, so an id is never reused by mistake.
 */
import type * as grpc from "@grpc/grpc-js";
import { PodplugError } from "../errors.ts";
import type { Broker, BrokerServer, GRPCBroker } from "../protocol/broker.ts";
import type { ServiceRegistrar } from "../protocol/transport.ts";

export class HostBroker implements Broker {
  private id = 0;
  private readonly current: () => GRPCBroker | undefined;
  private readonly plugin: string;

  constructor(plugin: string, current: () => GRPCBroker | undefined) {
    this.plugin = plugin;
    this.current = current;
  }

  private live(): GRPCBroker {
    const b = this.current();
    if (!b)
      throw new PodplugError(
        "UNAVAILABLE",
        `plugin ${this.plugin} is unavailable (restarting): its broker has no connection; retry once it is back.`,
      );
    return b;
  }

  nextId(): number {
    this.id = this.id >= 0xffff_ffff ? 1 : this.id + 1;
    return this.id;
  }

  acceptAndServe(id: number, register: (server: ServiceRegistrar) => void): Promise<BrokerServer> {
    return this.live().acceptAndServe(id, register);
  }

  dial(id: number, timeoutMs?: number): Promise<grpc.ChannelInterface> {
    return this.live().dial(id, timeoutMs);
  }

  dialClient<C>(
    id: number,
    ctor: new (address: string, creds: grpc.ChannelCredentials, options: grpc.ClientOptions) => C,
  ): Promise<C> {
    return this.live().dialClient(id, ctor);
  }
}
