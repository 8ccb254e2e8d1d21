/**
 * directClient's unary path against grpc-js's own makeUnaryRequest: the same
 * calls, on the same channel kind, to the same echo server process, must end
 * the same way (response, status code and details, metadata events), for
 * success, every failure a unary call can meet, each argument form, cancel,
 * deadlines and calls with interceptors (handed to grpc-js).
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { directClient } from "../../src/transport/unary-client.ts";
import { EchoClient, type EchoClientInstance, type EchoMessage, EchoWithMissing } from "./fixtures/echo.ts";
import { type UnaryOutcome, unary, useServer } from "./harness.ts";

/** A client whose responses cannot be parsed, and one whose requests cannot be serialized. */
const BadParse = grpc.makeGenericClientConstructor(
  {
    unary: {
      ...EchoWithMissing.unary,
      responseDeserialize: (): never => {
        throw new Error("bad bytes");
      },
    },
  },
  "podplug.test.Echo",
);
const BadSerialize = grpc.makeGenericClientConstructor(
  {
    unary: {
      ...EchoWithMissing.unary,
      requestSerialize: (): never => {
        throw new Error("cannot encode");
      },
    },
  },
  "podplug.test.Echo",
);

type Kind = "grpc-js" | "direct";

describe("transport: directClient unary calls behave as grpc-js's", () => {
  const fx = useServer("podplug");
  const channels: PodplugChannel[] = [];
  const build = <C>(kind: Kind, ctor: new (a: string, c: grpc.ChannelCredentials, o: grpc.ClientOptions) => C): C => {
    const ch = new PodplugChannel(fx.socket);
    channels.push(ch);
    const creds = grpc.credentials.createInsecure();
    return kind === "direct" ? directClient(ctor, creds, ch) : new ctor("unused", creds, { channelOverride: ch });
  };
  after(() => {
    for (const c of channels) c.close();
  });

  /** Runs `f` on both kinds and returns the two outcomes. */
  const both = async <T>(f: (kind: Kind) => Promise<T>): Promise<[T, T]> => [await f("grpc-js"), await f("direct")];
  const summary = (o: UnaryOutcome): unknown => ({
    res: o.res,
    code: o.err?.code,
    details: o.err?.details,
    message: o.err?.message,
    trailer: o.err?.metadata?.get("x-trailer"),
    status: o.status?.code,
    statusTrailer: o.status?.metadata.get("x-trailer"),
    headers: o.headers?.get("x-initial"),
  });
  const same = async (
    name: "unary" | "missing",
    req: EchoMessage,
    md?: () => grpc.Metadata,
    opts?: () => grpc.CallOptions,
  ) => {
    const [ref, got] = await both((k) => unary(build(k, EchoClient), name, req, md?.(), opts?.()));
    assert.deepEqual(summary(got), summary(ref));
    return got;
  };

  it("answers, with the server's header and trailer metadata as events", async () => {
    const md = (): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set("x-echo", "hi");
      return m;
    };
    const o = await same("unary", { text: "a" }, md);
    assert.equal(o.res?.text, "a");
    assert.deepEqual(o.res?.seen, { "x-echo": "hi" });
    assert.deepEqual(o.headers?.get("x-initial"), ["hi"]);
    assert.deepEqual(o.status?.metadata.get("x-trailer"), ["t1"]);
  });

  it("fails with the server's status as a ServiceError carrying its trailers", async () => {
    const o = await same("unary", { fail: { code: grpc.status.NOT_FOUND, details: "no such key" } });
    assert.equal(o.err?.code, grpc.status.NOT_FOUND);
    assert.equal(o.err?.message, "5 NOT_FOUND: no such key");
    assert.ok(o.err instanceof Error);
  });

  it("reports a throwing handler, an unknown method and a passed deadline as grpc-js does", async () => {
    assert.equal((await same("unary", { throw: "boom" })).err?.code, grpc.status.UNKNOWN);
    assert.equal((await same("missing", {})).err?.code, grpc.status.UNIMPLEMENTED);
    const late = await same("unary", { sleepMs: 2000 }, undefined, () => ({ deadline: Date.now() + 50 }));
    assert.equal(late.err?.code, grpc.status.DEADLINE_EXCEEDED);
  });

  it("fails INTERNAL on a response it cannot parse and on a request it cannot serialize", async () => {
    const [p1, p2] = await both((k) => unary(build(k, BadParse) as unknown as EchoClientInstance, "unary", {}));
    assert.equal(p2.err?.code, grpc.status.INTERNAL);
    assert.deepEqual(summary(p2), summary(p1));
    const [s1, s2] = await both((k) => unary(build(k, BadSerialize) as unknown as EchoClientInstance, "unary", {}));
    assert.equal(s2.err?.code, grpc.status.INTERNAL);
    assert.match(s2.err!.details, /serialization failure: cannot encode/);
    assert.deepEqual(summary(s2), summary(s1));
  });

  it("takes every argument form grpc-js takes, and refuses a wrong one the same way", async () => {
    const c = build("direct", EchoClient);
    const md = new grpc.Metadata();
    md.set("x-echo", "m");
    const forms = await Promise.all([
      new Promise<EchoMessage | undefined>((r) => c.unary({ text: "1" }, (_e: unknown, v?: EchoMessage) => r(v))),
      new Promise<EchoMessage | undefined>((r) => c.unary({ text: "2" }, md, (_e: unknown, v?: EchoMessage) => r(v))),
      new Promise<EchoMessage | undefined>((r) =>
        c.unary({ text: "3" }, { deadline: Date.now() + 5000 }, (_e: unknown, v?: EchoMessage) => r(v)),
      ),
    ]);
    assert.deepEqual(
      forms.map((f) => [f?.text, f?.seen?.["x-echo"], f?.deadline]),
      [
        ["1", undefined, false],
        ["2", "m", false],
        ["3", undefined, true],
      ],
    );
    const ref = build("grpc-js", EchoClient);
    const wrong = (x: EchoClientInstance) => () => (x.unary as (...a: unknown[]) => unknown)({}, md, {});
    assert.throws(wrong(ref), /Incorrect arguments passed/);
    assert.throws(wrong(c), /Incorrect arguments passed/);
  });

  it("cancel() ends the call CANCELLED with grpc-js's details", async () => {
    const [ref, got] = await both(
      (k) =>
        new Promise<grpc.ServiceError | null>((resolve) => {
          const call = build(k, EchoClient).unary({ sleepMs: 5000 }, (e: grpc.ServiceError | null) => resolve(e));
          setTimeout(() => call.cancel(), 50);
        }),
    );
    assert.equal(got?.code, grpc.status.CANCELLED);
    assert.equal(got?.details, ref?.details);
  });

  it("hands calls with interceptors to grpc-js, which runs them", async () => {
    const seen: string[] = [];
    const interceptor: grpc.Interceptor = (options, next) =>
      new grpc.InterceptingCall(next(options), {
        start(metadata, listener, nxt) {
          seen.push(options.method_definition.path);
          metadata.set("x-echo", "intercepted");
          nxt(metadata, listener);
        },
      });
    const o = await unary(build("direct", EchoClient), "unary", { text: "i" }, new grpc.Metadata(), {
      interceptors: [interceptor],
    });
    assert.deepEqual(seen, ["/podplug.test.Echo/Unary"]);
    assert.equal(o.res?.seen?.["x-echo"], "intercepted");
  });

  it("leaves streaming methods to grpc-js", async () => {
    const c = build("direct", EchoClient);
    assert.equal(Object.hasOwn(c, "serverStream"), false);
    assert.equal(Object.hasOwn(c, "unary"), true);
  });
});
