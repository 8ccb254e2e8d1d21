/**
 * podplug's own services on podplug's transport, unchanged: the ts-proto
 * generated clients and servers of grpc.health.v1 (Check, Watch) and
 * go-plugin's GRPCBroker, with podplug's GRPCBroker on both ends announcing
 * and dialing a kv service, over a real Unix socket.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { type GetRequest, type GetResponse, KVClient, KVService } from "../../src/gen/examples/kv/kv.ts";
import {
  type HealthCheckResponse,
  HealthClient,
  HealthService,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../src/gen/grpc/health/v1/health.ts";
import { GRPCBrokerClient, type GRPCBrokerServer, GRPCBrokerService } from "../../src/gen/plugin/grpc_broker.ts";
import { GRPCBroker } from "../../src/protocol/broker.ts";
import { PluginHealth } from "../../src/protocol/health.ts";
import type { Logger } from "../../src/protocol/logger.ts";
import { insecureTransport } from "../../src/protocol/transport.ts";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { PodplugServer } from "../../src/transport/server.ts";
import { tempDir } from "../helpers.ts";

const creds = grpc.credentials.createInsecure();
const silent: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe("transport: podplug's generated services on PodplugChannel and PodplugServer", () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: PodplugServer;
  let channel: PodplugChannel;
  let health: PluginHealth;
  let pluginBroker: GRPCBroker;
  let hostBroker: GRPCBroker;

  before(async () => {
    tmp = tempDir("ptn-");
    const socket = join(tmp.dir, "plugin.sock");
    health = new PluginHealth();
    pluginBroker = new GRPCBroker({ socketDir: tmp.dir, security: insecureTransport(), logger: silent });
    hostBroker = new GRPCBroker({ socketDir: tmp.dir, security: insecureTransport(), logger: silent });
    server = new PodplugServer();
    server.addService(HealthService, health.implementation());
    const brokerImpl: GRPCBrokerServer = { startStream: (call) => pluginBroker.attach(call) };
    server.addService(GRPCBrokerService, brokerImpl);
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, null, (e) => (e ? rej(e) : res())));
    channel = new PodplugChannel(socket);
    hostBroker.attach(new GRPCBrokerClient("unused", creds, { channelOverride: channel }).startStream());
  });
  after(async () => {
    hostBroker.close();
    pluginBroker.close();
    channel.close();
    await new Promise<void>((res) => server.tryShutdown(() => res()));
    tmp.remove();
  });

  it("health Check answers SERVING for go-plugin's service name", async () => {
    const h = new HealthClient("unused", creds, { channelOverride: channel });
    const r = await new Promise<HealthCheckResponse>((res, rej) =>
      h.check({ service: "plugin" }, (e, v) => (e ? rej(e) : res(v))),
    );
    assert.equal(r.status, Serving.SERVING);
    const unknown = await new Promise<grpc.ServiceError>((res) => h.check({ service: "nope" }, (e) => res(e!)));
    assert.equal(unknown.code, grpc.status.NOT_FOUND);
  });

  it("health Watch streams status changes as they happen", async () => {
    const h = new HealthClient("unused", creds, { channelOverride: channel });
    const call = h.watch({ service: "kv" });
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on("data", (r: HealthCheckResponse) => {
        seen.push(r.status);
        if (seen.length === 1) health.setStatus("kv", Serving.SERVING);
        if (seen.length === 2) health.setStatus("kv", Serving.NOT_SERVING);
        if (seen.length === 3) resolve();
      });
      call.on("error", reject);
    });
    call.cancel();
    assert.deepEqual(seen, [Serving.SERVICE_UNKNOWN, Serving.SERVING, Serving.NOT_SERVING]);
  });

  it("the broker stream carries an announcement: the host dials what the plugin serves", async () => {
    const id = pluginBroker.nextId();
    const served = await pluginBroker.acceptAndServe(id, (s) =>
      s.addService(KVService, {
        get: (call: grpc.ServerUnaryCall<GetRequest, GetResponse>, cb: grpc.sendUnaryData<GetResponse>) =>
          cb(null, { value: Buffer.from(`brokered ${call.request.key}`) }),
        put: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
      }),
    );
    try {
      const kv = await hostBroker.dialClient(id, KVClient);
      const r = await new Promise<GetResponse>((res, rej) => kv.get({ key: "k" }, (e, v) => (e ? rej(e) : res(v))));
      assert.equal(Buffer.from(r.value).toString(), "brokered k");
      kv.close();
    } finally {
      served.close();
    }
  });
});
