/**
 * PodplugServer's own life and limits: graceful and forced shutdown with calls
 * in flight, send limits on both ends, and coded errors for misuse.
 */
import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { isPodplugError } from "../../src/errors.ts";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { PodplugServer } from "../../src/transport/server.ts";
import { tempDir } from "../helpers.ts";
import { EchoClient, type EchoClientInstance, EchoService, echoImplementation } from "./fixtures/echo.ts";
import { type Impl, makeChannel, unary } from "./harness.ts";

function bind(server: PodplugServer, socket: string): Promise<void> {
  return new Promise((res, rej) => server.bindAsync(`unix://${socket}`, null, (e) => (e ? rej(e) : res())));
}

describe("transport: PodplugServer life and limits", () => {
  let tmp: ReturnType<typeof tempDir>;
  let socket: string;
  let server: PodplugServer;
  const clients: EchoClientInstance[] = [];
  const client = (kind: Impl, channel?: grpc.ChannelInterface): EchoClientInstance => {
    const c = new EchoClient("unused", grpc.credentials.createInsecure(), {
      channelOverride: channel ?? makeChannel(kind, socket),
    });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    tmp = tempDir("pts-");
    socket = join(tmp.dir, "s.sock");
    server = new PodplugServer({ "grpc.max_send_message_length": 100_000 });
    server.addService(EchoService, echoImplementation());
    await bind(server, socket);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    server.forceShutdown();
    tmp.remove();
  });

  for (const kind of ["podplug", "grpcjs"] as const) {
    it(`tryShutdown lets a call in flight finish, then calls back and removes the socket (${kind} client)`, async () => {
      const c = client(kind);
      assert.equal((await unary(c, "unary", { text: "warm" })).res?.text, "warm");
      const slow = unary(c, "unary", { text: "slow", sleepMs: 300 });
      await new Promise((r) => setTimeout(r, 50));
      let shut = false;
      const down = new Promise<void>((r) => server.tryShutdown(() => r()));
      void down.then(() => (shut = true));
      const o = await slow;
      assert.equal(o.res?.text, "slow", o.err?.message);
      await down;
      assert.ok(shut);
      assert.equal(existsSync(socket), false);
    });

    it(`forceShutdown ends calls in flight at once (${kind} client)`, async () => {
      const c = client(kind);
      const slow = unary(c, "unary", { sleepMs: 5000 });
      await new Promise((r) => setTimeout(r, 100));
      server.forceShutdown();
      const o = await slow;
      assert.ok(o.err, "the call failed");
      assert.ok(
        [grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL].includes(o.err.code),
        `code ${o.err.code}`,
      );
    });

    it(`a response over the server's send limit ends RESOURCE_EXHAUSTED (${kind} client)`, async () => {
      const o = await unary(client(kind), "unary", { size: 200_000 });
      assert.equal(o.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(o.err!.details, /larger than max/);
    });
  }

  it("a grpc-js client that compresses its requests (gzip) is understood", async () => {
    const ch = new grpc.Channel(`unix://${socket}`, grpc.credentials.createInsecure(), {
      "grpc.default_compression_algorithm": 2,
    });
    const text = "squeeze ".repeat(10_000);
    const o = await unary(client("grpcjs", ch), "unary", { text });
    assert.equal(o.res?.text, text, o.err?.message);
  });

  it("a request over PodplugChannel's send limit fails RESOURCE_EXHAUSTED before it leaves", async () => {
    const c = client("podplug", new PodplugChannel(socket, { maxSendMessageLength: 50 }));
    const o = await unary(c, "unary", { text: "x".repeat(100) });
    assert.equal(o.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await unary(c, "unary", { text: "ok" })).res?.text, "ok");
  });

  it("misuse gets coded errors: a second bind, addService after bind, an unbindable path", async () => {
    const err = await new Promise<Error | null>((res) => server.bindAsync(`unix://${socket}2`, null, (e) => res(e)));
    assert.ok(err instanceof TransportError && err.code === "TRANSPORT_SERVER_STARTED");
    assert.throws(
      () => server.addService(EchoService, echoImplementation()),
      (e: unknown) => e instanceof TransportError && e.code === "TRANSPORT_SERVER_STARTED",
    );
    const other = new PodplugServer();
    const bad = await new Promise<Error | null>((res) =>
      other.bindAsync(`unix://${tmp.dir}/missing/dir/s.sock`, null, (e) => res(e)),
    );
    assert.ok(bad instanceof TransportError && bad.code === "TRANSPORT_BIND_FAILED", String(bad));
    const taken = new PodplugServer();
    const inUse = await new Promise<Error | null>((res) => taken.bindAsync(`unix://${socket}`, null, (e) => res(e)));
    assert.ok(inUse instanceof TransportError && inUse.code === "TRANSPORT_BIND_FAILED", String(inUse));
    // TLS without a CA would accept any client: refused before anything listens, and a PodplugError for the CLI.
    const noCa = await new Promise<Error | null>((res) =>
      new PodplugServer().bindAsync(`unix://${tmp.dir}/tls.sock`, { ca: "", key: "k", cert: "c" }, (e) => res(e)),
    );
    assert.ok(isPodplugError(noCa, "TRANSPORT_CREDENTIALS_INVALID"), String(noCa));
    assert.equal(existsSync(`${tmp.dir}/tls.sock`), false);
  });

  for (const engine of ["podplug", "node-http2"] as const)
    for (const kind of ["podplug", "grpcjs"] as const)
      it(`past podplug.maxConnections a new client's calls fail, naming the limit; an open client keeps working; the owner hears TRANSPORT_TOO_MANY_CONNECTIONS (${engine} engine, ${kind} clients)`, async () => {
        const heard: string[] = [];
        const limited = new PodplugServer({
          "podplug.engine": engine,
          "podplug.maxConnections": 1,
          "podplug.onPeerError": (e) => heard.push(e.code),
        });
        limited.addService(EchoService, echoImplementation());
        const path = join(tmp.dir, "limited.sock");
        await bind(limited, path);
        try {
          // grpc-js shares a connection between channels to one target unless told not to.
          const channel = (): grpc.ChannelInterface =>
            kind === "podplug"
              ? makeChannel(kind, path)
              : new grpc.Channel(`unix://${path}`, grpc.credentials.createInsecure(), {
                  "grpc.use_local_subchannel_pool": 1,
                });
          const first = client(kind, channel());
          assert.equal((await unary(first, "unary", { text: "one" })).res?.text, "one");
          const o = await unary(client(kind, channel()), "unary", { text: "two" }, undefined, {
            deadline: Date.now() + 5000,
          });
          // grpc-js reads GOAWAY ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED; podplug's channel as a connection lost.
          const expected = kind === "podplug" ? grpc.status.UNAVAILABLE : grpc.status.RESOURCE_EXHAUSTED;
          assert.equal(o.err?.code, expected, String(o.err));
          if (kind === "podplug") assert.match(o.err!.details, /too many connections/);
          assert.equal((await unary(first, "unary", { text: "three" })).res?.text, "three");
          assert.deepEqual(heard, ["TRANSPORT_TOO_MANY_CONNECTIONS"]);
        } finally {
          limited.forceShutdown();
        }
        // From JavaScript, or options read from elsewhere, any value can come.
        for (const bad of [0, -1, 1.5, "2"] as unknown[])
          assert.throws(() => new PodplugServer({ "podplug.maxConnections": bad as number }), {
            code: "TRANSPORT_OPTION_INVALID",
          });
      });

  it("refuses a network address rather than creating a socket file named after it", async () => {
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      for (const target of [
        "127.0.0.1:18555",
        "localhost:50051",
        "[::1]:18555",
        "dns:///localhost:1",
        "ipv4:127.0.0.1:1",
      ]) {
        const err = await new Promise<Error | null>((res) =>
          new PodplugServer().bindAsync(target, null, (e) => res(e)),
        );
        assert.ok(isPodplugError(err, "TRANSPORT_TARGET_INVALID"), `${target}: ${String(err)}`);
        assert.equal(existsSync(join(tmp.dir, target)), false, `no file named ${target}`);
      }
    } finally {
      process.chdir(cwd);
    }
  });
});
