/**
 * podplug's HTTP/2 engine against a hand-written HTTP/2 peer on a Unix socket, for
 * what nghttp2 and grpc-go rarely send: padding, PRIORITY fields,
 * CONTINUATION, PING, a tiny send window, GOAWAY, RST_STREAM codes, broken
 * HPACK.
 */
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { encodeHeaders } from "../../src/transport/h2/hpack.ts";
import { tempDir } from "../helpers.ts";
import { EchoClient, type EchoClientInstance } from "./fixtures/echo.ts";
import { unary } from "./harness.ts";
import { type Frame, FramePeer, frame, message, OK_HEADERS, settings, u32 } from "./raw-h2.ts";

describe("transport: podplug's HTTP/2 engine (client side) against a hand-written HTTP/2 peer", () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: net.Server;
  let conns: FramePeer[];
  let client: EchoClientInstance;
  let onFramePeer: ((c: FramePeer) => void) | undefined;

  beforeEach(async () => {
    tmp = tempDir("ptf-");
    const socket = join(tmp.dir, "raw.sock");
    conns = [];
    onFramePeer = undefined;
    server = net.createServer((s) => {
      const c = new FramePeer(s, "server");
      conns.push(c);
      onFramePeer?.(c);
    });
    await new Promise<void>((r) => server.listen(socket, r));
    client = new EchoClient("unused", grpc.credentials.createInsecure(), {
      channelOverride: new PodplugChannel(socket),
    });
  });
  afterEach(async () => {
    client.close();
    for (const c of conns) c.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    tmp.remove();
  });

  const firstRequest = async (): Promise<{ conn: FramePeer; id: number }> => {
    while (conns.length === 0) await new Promise((r) => setTimeout(r, 5));
    const conn = conns[0]!;
    await conn.until(() => conn.requests.length > 0);
    return { conn, id: conn.requests[0]!.id };
  };

  it("reads padded and prioritised HEADERS, padded DATA, trailers in CONTINUATION, and answers PING", async () => {
    const call = unary(client, "unary", { text: "x" });
    const { conn, id } = await firstRequest();
    assert.equal(conn.requests[0]!.headers[":path"], "/podplug.test.Echo/Unary");
    assert.equal(conn.requests[0]!.headers.te, "trailers");
    // HEADERS: PADDED | PRIORITY | END_HEADERS, 3 bytes of padding.
    const headers = frame(
      1,
      0x8 | 0x20 | 0x4,
      id,
      Buffer.concat([Buffer.from([3]), Buffer.alloc(5), OK_HEADERS, Buffer.alloc(3)]),
    );
    // DATA: PADDED, 2 bytes of padding.
    const body = message({ text: "padded" });
    const data = frame(0, 0x8, id, Buffer.concat([Buffer.from([2]), body, Buffer.alloc(2)]));
    const ping = frame(6, 0, 0, Buffer.from("pingpong"));
    const trailers = encodeHeaders([
      ["grpc-status", "0"],
      ["x-t", "v"],
    ]);
    const t1 = frame(1, 0x1, id, trailers.subarray(0, 5)); // END_STREAM, no END_HEADERS
    const t2 = frame(9, 0x4, id, trailers.subarray(5)); // CONTINUATION with END_HEADERS
    conn.send(headers, ping, data, t1, t2);
    const o = await call;
    assert.equal(o.res?.text, "padded", o.err?.message);
    assert.deepEqual(o.status?.metadata.get("x-t"), ["v"]);
    await conn.until(() => conn.frames.some((f) => f.type === 6 && f.flags & 1));
    const ack = conn.frames.find((f) => f.type === 6 && f.flags & 1)!;
    assert.equal(ack.payload.toString(), "pingpong");
  });

  it("keeps to a 10-byte send window, continuing on WINDOW_UPDATE", async () => {
    onFramePeer = (c) => c.send(settings([[0x4, 10]]));
    // Before the peer's SETTINGS arrive the default window applies; connect first.
    await new Promise<void>((res, rej) => client.waitForReady(Date.now() + 5000, (e) => (e ? rej(e) : res())));
    const text = "w".repeat(100);
    const call = unary(client, "unary", { text });
    const { conn, id } = await firstRequest();
    const dataOf = (): Frame[] => conn.frames.filter((f) => f.type === 0 && f.id === id);
    await conn.until(() => dataOf().length > 0);
    assert.ok(
      dataOf().every((f) => f.payload.length <= 10),
      "no DATA frame exceeds the window",
    );
    const total = (): number => dataOf().reduce((n, f) => n + f.payload.length, 0);
    while (!dataOf().some((f) => f.flags & 1)) {
      const before = total();
      conn.send(frame(8, 0, id, u32(10)), frame(8, 0, 0, u32(10)));
      await conn.until(() => total() > before || dataOf().some((f) => f.flags & 1));
    }
    const sent = Buffer.concat(dataOf().map((f) => f.payload));
    assert.equal(JSON.parse(sent.subarray(5).toString()).text, text);
    conn.send(
      frame(1, 0x4, id, OK_HEADERS),
      frame(0, 0, id, message({ text: "ok" })),
      frame(1, 0x5, id, encodeHeaders([["grpc-status", "0"]])),
    );
    assert.equal((await call).res?.text, "ok");
  });

  it("GOAWAY before a stream was processed fails it UNAVAILABLE; the next call opens a new connection", async () => {
    const call = unary(client, "unary", { text: "refused" });
    const { conn } = await firstRequest();
    conn.send(frame(7, 0, 0, Buffer.concat([u32(0), u32(0)])));
    const o = await call;
    assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
    onFramePeer = (c) =>
      void c
        .until(() => c.requests.length > 0)
        .then(() => {
          const id = c.requests[0]!.id;
          c.send(
            frame(1, 0x4, id, OK_HEADERS),
            frame(0, 0, id, message({ text: "second" })),
            frame(1, 0x5, id, encodeHeaders([["grpc-status", "0"]])),
          );
        });
    const again = await unary(client, "unary", { text: "again" });
    assert.equal(again.res?.text, "second", again.err?.message);
    assert.equal(conns.length, 2);
  });

  it("maps RST_STREAM codes: REFUSED_STREAM to UNAVAILABLE, CANCEL to CANCELLED", async () => {
    const a = unary(client, "unary", { text: "a" });
    const { conn, id } = await firstRequest();
    conn.send(frame(3, 0, id, u32(7)));
    assert.equal((await a).err?.code, grpc.status.UNAVAILABLE);
    const b = unary(client, "unary", { text: "b" });
    await conn.until(() => conn.requests.length > 1);
    const id2 = conn.requests[1]!.id;
    conn.send(frame(1, 0x4, id2, OK_HEADERS), frame(3, 0, id2, u32(8)));
    assert.equal((await b).err?.code, grpc.status.CANCELLED);
  });

  it("a broken header block is a connection error: GOAWAY COMPRESSION_ERROR, the call UNAVAILABLE", async () => {
    const call = unary(client, "unary", { text: "x" });
    const { conn, id } = await firstRequest();
    conn.send(frame(1, 0x4, id, Buffer.from([0xff, 0xff, 0xff, 0x7f]))); // an index far past both tables
    const o = await call;
    assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
    await conn.until(() => conn.frames.some((f) => f.type === 7));
    const goaway = conn.frames.find((f) => f.type === 7)!;
    assert.equal(goaway.payload.readUInt32BE(4), 9);
  });
});
