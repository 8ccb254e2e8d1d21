/**
 * Floods on go-plugin's protocol layer: a peer announcing broker ids in a
 * loop, opening yamux streams past the backlog, or sending yamux pings while
 * it never reads. Each is bounded with a coded error or warning, over real
 * Unix sockets; a peer within the bounds loses nothing.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { isPodplugError } from "../../src/errors.ts";
import {
  type ConnInfo,
  GRPCBrokerClient,
  type GRPCBrokerServer,
  GRPCBrokerService,
} from "../../src/gen/plugin/grpc_broker.ts";
import { BROKER_MAX_PENDING, GRPCBroker } from "../../src/protocol/broker.ts";
import type { Logger } from "../../src/protocol/logger.ts";
import { insecureTransport } from "../../src/protocol/transport.ts";
import { YAMUX_MAX_PEER_STREAMS, YamuxSession, yamuxHeader } from "../../src/protocol/yamux.ts";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { PodplugServer } from "../../src/transport/server.ts";
import { tempDir } from "../helpers.ts";

/** A Logger that keeps what it is given. */
function keeping(): { logger: Logger; warns: { msg: string; fields: Record<string, unknown> }[] } {
  const warns: { msg: string; fields: Record<string, unknown> }[] = [];
  const none = (): void => undefined;
  return {
    warns,
    logger: {
      trace: none,
      debug: none,
      info: none,
      error: none,
      warn: (msg, fields) => warns.push({ msg, fields: fields ?? {} }),
    },
  };
}

describe("protocol floods: the broker", function () {
  this.timeout(60_000);

  /** A plugin's broker behind a real server; returns the host's raw StartStream to it. */
  async function brokerPair(): Promise<{
    stream: grpc.ClientDuplexStream<ConnInfo, ConnInfo>;
    broker: GRPCBroker;
    warns: ReturnType<typeof keeping>["warns"];
    done: () => Promise<void>;
  }> {
    const tmp = tempDir("pfl-");
    const socket = join(tmp.dir, "p.sock");
    const { logger, warns } = keeping();
    const broker = new GRPCBroker({ socketDir: tmp.dir, security: insecureTransport(), logger, timeoutMs: 30_000 });
    const server = new PodplugServer();
    const impl: GRPCBrokerServer = { startStream: (call) => broker.attach(call) };
    server.addService(GRPCBrokerService, impl);
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, null, (e) => (e ? rej(e) : res())));
    const channel = new PodplugChannel(socket);
    const stream = new GRPCBrokerClient("unused", grpc.credentials.createInsecure(), {
      channelOverride: channel,
    }).startStream();
    stream.on("error", () => undefined);
    return {
      stream,
      broker,
      warns,
      done: async () => {
        stream.cancel();
        broker.close();
        channel.close();
        await new Promise<void>((res) => server.tryShutdown(() => res()));
        tmp.remove();
      },
    };
  }

  /** Announces ids 1..count, each a socket path that need not exist (nothing here connects). */
  async function announce(stream: grpc.ClientDuplexStream<ConnInfo, ConnInfo>, count: number): Promise<void> {
    for (let id = 1; id <= count; id++) {
      const ok = stream.write({ serviceId: id, network: "unix", address: `/nowhere/${id}`, knock: undefined });
      if (!ok) await once(stream, "drain");
    }
  }

  it("a host announcing 5000 ids nobody dials: 1024 kept, the rest dropped with BROKER_FLOOD warnings", async () => {
    const p = await brokerPair();
    try {
      await announce(p.stream, 5000);
      // Wait (bounded) until the broker has read them all: one warning per 1000 drops.
      const end = Date.now() + 30_000;
      while (p.warns.length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const floods = p.warns.filter((w) => w.fields.code === "BROKER_FLOOD");
      assert.equal(floods.length, 4, "the first drop and every 1000th warn (3976 dropped)");
      assert.equal(floods[0]!.fields.pending, BROKER_MAX_PENDING);
      assert.match(floods[0]!.msg, /more than 1024 broker announcements/);
      // What was kept is still there to be dialed; a dropped id is not.
      const kept = await p.broker.dial(1);
      kept.close();
      await assert.rejects(p.broker.dial(4000, 300), (e: unknown) => isPodplugError(e, "BROKER_TIMEOUT"));
    } finally {
      await p.done();
    }
  });

  it("a host announcing within the bound loses nothing and draws no warning", async () => {
    const p = await brokerPair();
    try {
      await announce(p.stream, BROKER_MAX_PENDING);
      const last = await p.broker.dial(BROKER_MAX_PENDING);
      last.close();
      assert.equal(p.warns.filter((w) => w.fields.code === "BROKER_FLOOD").length, 0);
    } finally {
      await p.done();
    }
  });
});

/** A connected socket pair through a real listener. */
async function pair(): Promise<{ a: net.Socket; b: net.Socket; done: () => void }> {
  const tmp = tempDir("pfl-");
  const path = join(tmp.dir, "s");
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = once(server, "connection") as Promise<[net.Socket]>;
  const a = net.connect(path);
  const [b] = await accepted;
  return {
    a,
    b,
    done: () => {
      a.destroy();
      b.destroy();
      server.close();
      tmp.remove();
    },
  };
}

describe("protocol floods: yamux", function () {
  this.timeout(60_000);

  it("a host opening 400 streams: the plugin's session keeps 256, resets the rest, and lives on", async () => {
    const p = await pair();
    try {
      const held: unknown[] = [];
      const plugin = new YamuxSession(p.b, "server", { onStream: (s) => held.push(s) });
      const resets = new Set<number>();
      let buf = Buffer.alloc(0);
      p.a.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 12) {
          const len = buf[1] === 0 ? buf.readUInt32BE(8) : 0;
          if (buf.length < 12 + len) break;
          if (buf.readUInt16BE(2) & 8) resets.add(buf.readUInt32BE(4));
          buf = buf.subarray(12 + len);
        }
      });
      const syns = Array.from({ length: 400 }, (_, i) => yamuxHeader(1, 1, 1 + 2 * i, 0));
      p.a.write(Buffer.concat(syns));
      const end = Date.now() + 20_000;
      while (resets.size < 400 - YAMUX_MAX_PEER_STREAMS && Date.now() < end)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(plugin.streamCount, YAMUX_MAX_PEER_STREAMS);
      assert.equal(held.length, YAMUX_MAX_PEER_STREAMS);
      assert.deepEqual(
        [...resets].sort((x, y) => x - y),
        Array.from({ length: 400 - YAMUX_MAX_PEER_STREAMS }, (_, i) => 1 + 2 * (YAMUX_MAX_PEER_STREAMS + i)),
      );
      assert.equal(plugin.isClosed, false, "the session lives on");
    } finally {
      p.done();
    }
  });

  it("pings from a peer that never reads: the session ends with MULTIPLEX_FLOOD before buffering more than 1 MiB of acks", async () => {
    const p = await pair();
    try {
      const session = new YamuxSession(p.b, "server", { onStream: () => undefined });
      const closed = once(session, "close") as Promise<[Error | undefined]>;
      p.a.pause();
      p.a.on("error", () => undefined);
      const batch = Buffer.concat(Array.from({ length: 1000 }, () => yamuxHeader(2, 1, 0, 7)));
      let sent = 0;
      while (!session.isClosed && sent < 64 * 1024 * 1024) {
        sent += batch.length;
        if (!p.a.write(batch)) await Promise.race([once(p.a, "drain"), once(p.a, "close"), closed]);
      }
      const [err] = await closed;
      assert.ok(isPodplugError(err, "MULTIPLEX_FLOOD"), String(err));
      assert.ok(sent < 64 * 1024 * 1024, "cut off before the flood's end");
    } finally {
      p.done();
    }
  });
});
