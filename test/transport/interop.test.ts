/**
 * podplug's transport against grpc-js, both ways, over real Unix sockets with
 * the server in its own process: every pairing of {PodplugChannel, grpc-js
 * channel} x {PodplugServer, grpc-js Server} runs the same expectations (the
 * grpc-js pair checks that the expectations are grpc-js's own behaviour).
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { waitFor } from "../helpers.ts";
import type { EchoClientInstance, EchoMessage } from "./fixtures/echo.ts";
import { collect, makeClient, PAIRS, unary, useServer } from "./harness.ts";

for (const [clientKind, serverKind] of PAIRS) {
  describe(`transport interop: ${clientKind} client -> ${serverKind} server`, () => {
    const fx = useServer(serverKind);
    let client: EchoClientInstance;
    before(() => (client = makeClient(clientKind, fx.socket)));
    after(() => client.close());

    const stats = async (): Promise<EchoMessage> => (await unary(client, "stats", {})).res!;

    it("unary: response, initial metadata, trailers (text and binary), request metadata", async () => {
      const md = new grpc.Metadata();
      md.set("x-echo", "hello");
      md.set("x-echo-bin", Buffer.from([1, 2, 3, 250]));
      const o = await unary(client, "unary", { text: "hi" }, md);
      assert.equal(o.err, undefined);
      assert.equal(o.res?.text, "hi");
      assert.deepEqual(o.res?.seen, { "x-echo": "hello", "x-echo-bin": "010203fa" });
      assert.deepEqual(o.headers?.get("x-initial"), ["hello"]);
      assert.equal(o.status?.code, grpc.status.OK);
      assert.deepEqual(o.status?.metadata.get("x-trailer"), ["t1"]);
      assert.deepEqual(o.status?.metadata.get("x-trailer-bin"), [Buffer.from([0, 1, 2, 255])]);
    });

    if (clientKind !== "grpcjs" && serverKind !== "grpcjs") {
      // grpc-js caps metadata at 8 KiB; a 20 KB header block takes CONTINUATION frames both ways.
      it("unary: 20 KB of metadata each way (HEADERS + CONTINUATION)", async () => {
        const md = new grpc.Metadata();
        const big = "m".repeat(20_000);
        md.set("x-echo", big);
        const o = await unary(client, "unary", { text: "big-md" }, md);
        assert.equal(o.err, undefined, o.err?.message);
        assert.equal(o.res?.seen?.["x-echo"], big);
        assert.deepEqual(o.headers?.get("x-initial"), [big]);
      });
    }

    it("unary: many concurrent calls on one connection", async () => {
      const outs = await Promise.all(Array.from({ length: 200 }, (_, i) => unary(client, "unary", { text: `m${i}` })));
      for (const [i, o] of outs.entries()) assert.equal(o.res?.text, `m${i}`);
    });

    it("unary: an error status keeps its code, percent-encoded details and trailers", async () => {
      const details = "nope: 100% wrong — ünïcödé\nsecond line";
      const o = await unary(client, "unary", { fail: { code: grpc.status.FAILED_PRECONDITION, details } });
      assert.equal(o.err?.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(o.err?.details, details);
      assert.deepEqual(o.err?.metadata.get("x-trailer"), ["t1"]);
    });

    it("unary: a handler that throws ends UNKNOWN", async () => {
      const o = await unary(client, "unary", { throw: "kaboom" });
      assert.equal(o.err?.code, grpc.status.UNKNOWN);
      if (serverKind !== "grpcjs") assert.match(o.err!.details, /kaboom/);
    });

    it("unary: an unknown method is UNIMPLEMENTED", async () => {
      const o = await unary(client, "missing", {});
      assert.equal(o.err?.code, grpc.status.UNIMPLEMENTED);
    });

    it("unary: the deadline reaches the server and expires as DEADLINE_EXCEEDED", async () => {
      const ok = await unary(client, "unary", { text: "d" }, new grpc.Metadata(), { deadline: Date.now() + 30_000 });
      assert.equal(ok.res?.deadline, true, "the server saw a grpc-timeout");
      const before = (await stats()).cancelled!;
      const o = await unary(client, "unary", { sleepMs: 3000 }, new grpc.Metadata(), { deadline: Date.now() + 200 });
      assert.equal(o.err?.code, grpc.status.DEADLINE_EXCEEDED);
      await waitFor(async () => (await stats()).cancelled! > before, 10_000, "the server to see the call end");
    });

    it("unary: a deadline already past fails without reaching the server", async () => {
      const o = await unary(client, "unary", { text: "late" }, new grpc.Metadata(), { deadline: Date.now() - 1 });
      assert.equal(o.err?.code, grpc.status.DEADLINE_EXCEEDED);
    });

    it("unary: cancel() ends CANCELLED on the client and cancels the server's call", async () => {
      const before = (await stats()).cancelled!;
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = client.unary({ sleepMs: 5000 }, (e: grpc.ServiceError | null) => resolve(e!));
        setTimeout(() => call.cancel(), 100);
      });
      assert.equal(err.code, grpc.status.CANCELLED);
      await waitFor(async () => (await stats()).cancelled! > before, 10_000, "the server to see the cancellation");
    });

    it("unary: big messages both ways within limits, RESOURCE_EXHAUSTED past them", async () => {
      const bigIn = await unary(client, "unary", { size: 3 * 1024 * 1024 });
      assert.equal(bigIn.err, undefined);
      assert.equal(bigIn.res?.payload?.length, 3 * 1024 * 1024);
      const bigOut = await unary(client, "unary", { text: "y".repeat(3 * 1024 * 1024) });
      assert.equal(bigOut.err, undefined);
      assert.equal(bigOut.res?.text?.length, 3 * 1024 * 1024);
      // The client's default receive limit is 4 MiB.
      const tooBigIn = await unary(client, "unary", { size: 5 * 1024 * 1024 });
      assert.equal(tooBigIn.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      // The server's receive limit is 4 MiB.
      const tooBigOut = await unary(client, "unary", { text: "z".repeat(5 * 1024 * 1024) });
      assert.equal(tooBigOut.err?.code, grpc.status.RESOURCE_EXHAUSTED);
      // The connection is still good afterwards.
      assert.equal((await unary(client, "unary", { text: "after" })).res?.text, "after");
    });

    it("unary: 24 concurrent 1 MiB calls each way share the connection's flow control", async () => {
      const mib = 1024 * 1024;
      const outs = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          unary(client, "unary", i % 2 ? { size: mib } : { text: String(i % 10).repeat(mib) }),
        ),
      );
      outs.forEach((o, i) => {
        assert.equal(o.err, undefined, o.err?.message);
        if (i % 2) assert.equal(o.res?.payload?.length, mib);
        else assert.equal(o.res?.text, String(i % 10).repeat(mib));
      });
    });

    it("unary: a raised receive limit takes 8 MiB", async () => {
      const c = makeClient(clientKind, fx.socket, { maxReceive: 16 * 1024 * 1024 });
      try {
        const o = await unary(c, "unary", { size: 8 * 1024 * 1024 });
        assert.equal(o.err, undefined);
        assert.equal(o.res?.payload?.length, 8 * 1024 * 1024);
      } finally {
        c.close();
      }
    });

    it("server streaming: every message in order, then OK", async () => {
      const r = await collect(client.serverStream({ text: "s", count: 50 }));
      assert.equal(r.err, undefined);
      assert.deepEqual(
        r.msgs.map((m) => m.text),
        Array.from({ length: 50 }, (_, i) => `s-${i}`),
      );
    });

    it("server streaming: messages, then the handler's error status", async () => {
      const r = await collect(
        client.serverStream({ text: "e", count: 3, fail: { code: grpc.status.ABORTED, details: "stop" } }),
      );
      assert.equal(r.msgs.length, 3);
      assert.equal(r.err?.code, grpc.status.ABORTED);
      assert.equal(r.err?.details, "stop");
    });

    it("server streaming: cancel after the first message reaches the server", async () => {
      const before = (await stats()).cancelled!;
      const call = client.serverStream({ text: "c", count: 1000, sleepMs: 20 });
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        call.once("data", () => call.cancel());
        call.on("error", resolve);
      });
      assert.equal(err.code, grpc.status.CANCELLED);
      await waitFor(async () => (await stats()).cancelled! > before, 10_000, "the server to see the cancellation");
    });

    it("server streaming: a slow reader gets everything (flow control)", async () => {
      const call = client.serverStream({ text: "f", count: 200 });
      const got: number[] = [];
      await new Promise<void>((resolve, reject) => {
        call.on("data", (m: EchoMessage) => {
          got.push(m.i!);
          call.pause();
          setTimeout(() => call.resume(), 1);
        });
        call.on("end", resolve);
        call.on("error", reject);
      });
      assert.equal(got.length, 200);
    });

    it("client streaming: all messages arrive, one answer", async () => {
      const md = new grpc.Metadata();
      md.set("x-echo", "cs");
      const res = await new Promise<EchoMessage>((resolve, reject) => {
        const call = client.clientStream(md, (err: grpc.ServiceError | null, r?: EchoMessage) =>
          err ? reject(err) : resolve(r!),
        );
        for (let i = 0; i < 20; i++) call.write({ text: `c${i}` });
        call.end();
      });
      assert.equal(res.count, 20);
      assert.equal(res.text, Array.from({ length: 20 }, (_, i) => `c${i}`).join(","));
      assert.equal(res.seen?.["x-echo"], "cs");
    });

    it("client streaming: the handler's error status", async () => {
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = client.clientStream((e: grpc.ServiceError | null) => resolve(e!));
        call.write({ text: "a" });
        call.write({ fail: { code: grpc.status.INVALID_ARGUMENT, details: "bad item" } });
        call.end();
      });
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(err.details, "bad item");
    });

    it("bidi: ping-pong in order, then both sides end", async () => {
      const call = client.bidi();
      const got: EchoMessage[] = [];
      await new Promise<void>((resolve, reject) => {
        let i = 0;
        call.on("data", (m: EchoMessage) => {
          got.push(m);
          if (++i < 30) call.write({ text: `p${i}`, i });
          else call.end();
        });
        call.on("end", resolve);
        call.on("error", reject);
        call.write({ text: "p0", i: 0 });
      });
      assert.deepEqual(
        got.map((m) => m.text),
        Array.from({ length: 30 }, (_, i) => `echo:p${i}`),
      );
    });

    it("bidi: an error from the handler ends the stream with its status", async () => {
      const call = client.bidi();
      const p = collect(call);
      call.write({ text: "one" });
      call.write({ fail: { code: grpc.status.PERMISSION_DENIED, details: "denied" } });
      const r = await p;
      assert.equal(r.err?.code, grpc.status.PERMISSION_DENIED);
      assert.equal(r.err?.details, "denied");
    });

    it("bidi: cancel reaches the server", async () => {
      const before = (await stats()).cancelled!;
      const call = client.bidi();
      const p = collect(call);
      call.write({ text: "x" });
      call.once("data", () => call.cancel());
      const r = await p;
      assert.equal(r.err?.code, grpc.status.CANCELLED);
      await waitFor(async () => (await stats()).cancelled! > before, 10_000, "the server to see the cancellation");
    });
  });
}
