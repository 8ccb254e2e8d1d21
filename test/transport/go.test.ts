/**
 * podplug's transport against real go-plugin peers (grpc-go underneath):
 * a Go host loads a plugin served by PodplugServer alone, and PodplugChannel
 * drives a Go plugin's kv, health, broker, stdio and controller services,
 * plaintext and under AutoMTLS.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { type GetResponse, KVClient } from "../../src/gen/examples/kv/kv.ts";
import { type HealthCheckResponse, HealthClient } from "../../src/gen/grpc/health/v1/health.ts";
import { type ConnInfo, GRPCBrokerClient } from "../../src/gen/plugin/grpc_broker.ts";
import { GRPCControllerClient } from "../../src/gen/plugin/grpc_controller.ts";
import { GRPCStdioClient, type StdioData, StdioData_Channel } from "../../src/gen/plugin/grpc_stdio.ts";
import { type CertificatePair, handshakeFieldToCert } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { tempDir } from "../helpers.ts";
import {
  eventsOf,
  explain,
  goPeer,
  goPeersDir,
  nodeCommand,
  runPeer,
  type StartedPlugin,
  startPlugin,
} from "../interop/peers.ts";

const creds = grpc.credentials.createInsecure();

describe("transport: go-plugin peers", () => {
  let tmp: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000); // a cold cache builds the Go peers first
    goPeersDir();
  });
  beforeEach(() => (tmp = tempDir("ptg-")));
  afterEach(() => tmp.remove());

  for (const mtls of [false, true]) {
    it(`a Go go-plugin host loads a plugin served by PodplugServer${mtls ? " under AutoMTLS" : ""}`, async () => {
      const args = [
        "-cmd",
        nodeCommand("test/transport/fixtures/podplug-server-plugin.ts"),
        "put",
        "a",
        "1",
        "get",
        "a",
        "ping",
        "get",
        "zz",
      ];
      if (mtls) args.unshift("-automtls");
      const r = await runPeer("gohost", args, { cwd: tmp.dir, env: { PLUGIN_UNIX_SOCKET_DIR: tmp.dir } });
      assert.equal(eventsOf(r, "get")[0]?.value, "1\n\nWritten from podplug-server-plugin", explain(r));
      assert.match(String(eventsOf(r, "error")[0]?.error), /code = NotFound desc = no key zz/, explain(r));
      assert.equal(eventsOf(r, "ping")[0]?.ok, true, explain(r));
    });
  }

  describe("PodplugChannel -> the Go kv plugin (goplugin)", () => {
    let plugin: StartedPlugin | undefined;
    afterEach(async () => {
      await plugin?.stop();
      plugin = undefined;
    });

    async function start(clientCert?: CertificatePair): Promise<{ address: string; serverCert: string }> {
      const env: NodeJS.ProcessEnv = {
        BASIC_PLUGIN: "hello",
        PLUGIN_PROTOCOL_VERSIONS: "1",
        PLUGIN_UNIX_SOCKET_DIR: tmp.dir,
      };
      if (clientCert) env.PLUGIN_CLIENT_CERT = clientCert.certPem;
      plugin = startPlugin(goPeer("goplugin"), [], env);
      const fields = (await plugin.line).split("|");
      assert.equal(fields[2], "unix");
      assert.equal(fields[4], "grpc");
      return { address: fields[3]!, serverCert: fields[5] ? handshakeFieldToCert(fields[5]) : "" };
    }

    async function exercise(channel: PodplugChannel): Promise<void> {
      const kv = new KVClient("unused", creds, { channelOverride: channel });
      const health = new HealthClient("unused", creds, { channelOverride: channel });
      // Health, as go-plugin's Ping does.
      const h = await new Promise<HealthCheckResponse>((res, rej) =>
        health.check({ service: "plugin" }, (e, r) => (e ? rej(e) : res(r))),
      );
      assert.equal(h.status, 1);
      // The broker stream (bidi) opens and stays open.
      const broker = new GRPCBrokerClient("unused", creds, { channelOverride: channel }).startStream();
      let brokerError: grpc.ServiceError | undefined;
      broker.on("error", (e: grpc.ServiceError) => (brokerError = e));
      broker.write({ serviceId: 1, network: "unix", address: "/nonexistent", knock: undefined } satisfies ConnInfo);
      // Stdio (server streaming) forwards what the plugin prints.
      const stdio = new GRPCStdioClient("unused", creds, { channelOverride: channel }).streamStdio({});
      const printed = new Promise<string>((res) => {
        let out = "";
        stdio.on("data", (d: StdioData) => {
          if (d.channel === StdioData_Channel.STDOUT) out += d.data.toString();
          if (out.includes("stdout log1\n")) res(out);
        });
      });
      stdio.on("error", () => undefined);
      // Unary kv.
      await new Promise<void>((res, rej) =>
        kv.put({ key: "k", value: Buffer.from("from podplug") }, (e) => (e ? rej(e) : res())),
      );
      const got = await new Promise<GetResponse>((res, rej) => kv.get({ key: "k" }, (e, r) => (e ? rej(e) : res(r))));
      assert.equal(got.value.toString(), "from podplug");
      const missing = await new Promise<grpc.ServiceError>((res) => kv.get({ key: "nope" }, (e) => res(e!)));
      assert.equal(missing.code, grpc.status.UNKNOWN);
      assert.match(missing.details, /no key "nope"/);
      // A big value round trip (1 MiB, several HTTP/2 frames and window updates both ways).
      const big = Buffer.alloc(1024 * 1024, 7);
      await new Promise<void>((res, rej) => kv.put({ key: "big", value: big }, (e) => (e ? rej(e) : res())));
      const bigBack = await new Promise<GetResponse>((res, rej) =>
        kv.get({ key: "big" }, (e, r) => (e ? rej(e) : res(r))),
      );
      assert.ok(Buffer.from(bigBack.value).equals(big));
      // Printing through the plugin's stdout arrives on the stdio stream.
      await new Promise<void>((res, rej) => kv.get({ key: "log1" }, (e) => (e ? rej(e) : res())));
      assert.match(await printed, /stdout log1/);
      assert.equal(brokerError, undefined);
      // The controller shuts the plugin down; the streams end.
      await new Promise<void>((res) =>
        new GRPCControllerClient("unused", creds, { channelOverride: channel }).shutdown({}, () => res()),
      );
      broker.cancel();
      stdio.cancel();
    }

    it("kv, health, broker, stdio and controller over h2c", async () => {
      const { address } = await start();
      const channel = new PodplugChannel(address);
      try {
        await exercise(channel);
      } finally {
        channel.close();
      }
    });

    it("the same under AutoMTLS; a client certificate the plugin did not get is refused", async () => {
      const own = await generateCertificate();
      const { address, serverCert } = await start(own);
      assert.ok(serverCert.includes("BEGIN CERTIFICATE"));
      const stranger = await generateCertificate();
      const bad = new PodplugChannel(address, {
        tls: { ca: serverCert, key: stranger.keyPem, cert: stranger.certPem },
      });
      const kvBad = new KVClient("unused", creds, { channelOverride: bad });
      const err = await new Promise<grpc.ServiceError>((res) => kvBad.get({ key: "k" }, (e) => res(e!)));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      bad.close();
      const channel = new PodplugChannel(address, { tls: { ca: serverCert, key: own.keyPem, cert: own.certPem } });
      try {
        await exercise(channel);
      } finally {
        channel.close();
      }
    });
  });
});
