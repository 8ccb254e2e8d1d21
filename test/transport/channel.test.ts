/**
 * PodplugChannel's connection life: UNAVAILABLE without a server, waitForReady,
 * a server that dies and comes back on the same socket, close(), and an idle
 * channel not holding its process open.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { NODE, ROOT, tempDir } from "../helpers.ts";
import { EchoClient, type EchoClientInstance } from "./fixtures/echo.ts";
import { collect, type ServerProcess, startServer, unary } from "./harness.ts";

describe("transport: PodplugChannel connection life", () => {
  let tmp: ReturnType<typeof tempDir>;
  let socket: string;
  let channel: PodplugChannel;
  let client: EchoClientInstance;
  let server: ServerProcess | undefined;

  beforeEach(() => {
    tmp = tempDir("ptc-");
    socket = join(tmp.dir, "s.sock");
    channel = new PodplugChannel(`unix://${socket}`, { initialBackoffMs: 20, maxBackoffMs: 50 });
    client = new EchoClient("unused", grpc.credentials.createInsecure(), { channelOverride: channel });
  });
  afterEach(async () => {
    client.close();
    await server?.stop();
    server = undefined;
    tmp.remove();
  });

  const waitForReady = (ms: number): Promise<Error | undefined> =>
    new Promise((resolve) => client.waitForReady(Date.now() + ms, (err) => resolve(err ?? undefined)));

  it("fails UNAVAILABLE when nothing listens, and reports TRANSIENT_FAILURE", async () => {
    const o = await unary(client, "unary", { text: "x" });
    assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
    assert.match(o.err!.details, /ENOENT|ECONNREFUSED/);
    assert.equal(channel.getConnectivityState(false), grpc.connectivityState.TRANSIENT_FAILURE);
  });

  it("waitForReady times out without a server and succeeds once one listens", async () => {
    assert.ok(await waitForReady(200), "no server: waitForReady fails at its deadline");
    server = await startServer("podplug", socket);
    assert.equal(await waitForReady(10_000), undefined);
    assert.equal(channel.getConnectivityState(false), grpc.connectivityState.READY);
    assert.equal((await unary(client, "unary", { text: "up" })).res?.text, "up");
  });

  it("a call with the waitForReady option waits for a server to appear (and gives up at its deadline)", async () => {
    const late = await unary(client, "unary", { text: "late" }, new grpc.Metadata({ waitForReady: true }), {
      deadline: Date.now() + 300,
    });
    assert.equal(late.err?.code, grpc.status.DEADLINE_EXCEEDED);
    const pending = unary(client, "unary", { text: "patient" }, new grpc.Metadata({ waitForReady: true }), {
      deadline: Date.now() + 20_000,
    });
    await new Promise((r) => setTimeout(r, 200));
    server = await startServer("podplug", socket);
    const o = await pending;
    assert.equal(o.res?.text, "patient", o.err?.message);
  });

  it("a dying server fails calls in flight UNAVAILABLE; the next call reconnects to its successor", async () => {
    server = await startServer("podplug", socket);
    assert.equal((await unary(client, "unary", { text: "one" })).res?.text, "one");
    const stream = client.serverStream({ text: "s", count: 1000, sleepMs: 10 });
    const p = collect(stream);
    await new Promise((r) => stream.once("data", r));
    await server.stop();
    const r = await p;
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
    assert.notEqual(channel.getConnectivityState(false), grpc.connectivityState.READY);
    rmSync(socket, { force: true }); // a killed server leaves its socket file behind
    server = await startServer("grpcjs", socket);
    assert.equal((await unary(client, "unary", { text: "two" })).res?.text, "two");
    assert.equal(channel.getConnectivityState(false), grpc.connectivityState.READY);
  });

  it("after close() calls fail UNAVAILABLE and the state is SHUTDOWN", async () => {
    server = await startServer("podplug", socket);
    assert.equal((await unary(client, "unary", { text: "x" })).res?.text, "x");
    channel.close();
    assert.equal(channel.getConnectivityState(true), grpc.connectivityState.SHUTDOWN);
    const o = await unary(client, "unary", { text: "y" });
    assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
  });

  it("an idle channel does not keep its process alive", async () => {
    server = await startServer("podplug", socket);
    const script = `
      import * as grpc from "@grpc/grpc-js";
      import { PodplugChannel } from "${ROOT}/src/transport/channel.ts";
      import { EchoClient } from "${ROOT}/test/transport/fixtures/echo.ts";
      const c = new EchoClient("unused", grpc.credentials.createInsecure(), { channelOverride: new PodplugChannel(${JSON.stringify(socket)}) });
      c.unary({ text: "once" }, (err, res) => console.log(err ? "error " + err.code : res.text));
    `;
    const r = spawnSync(NODE, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 20_000 });
    assert.equal(r.signal, null, `the process had to be killed: ${r.stderr}`);
    assert.equal(r.stdout.trim(), "once", r.stderr);
  });

  it("rejects a target that is no Unix socket with a coded error", () => {
    assert.throws(
      () => new PodplugChannel("unix://"),
      (e: unknown) => e instanceof TransportError && e.code === "TRANSPORT_TARGET_INVALID",
    );
  });
});
