/**
 * PodplugServer's podplug HTTP/2 engine against a hand-written HTTP/2 client: padding,
 * PRIORITY, request headers in CONTINUATION, PING, a client GOAWAY while a
 * call runs, a reset call, a wrong preface.
 */
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { join } from "node:path";
import { encodeHeaders } from "../../src/transport/h2/hpack.ts";
import { PodplugServer } from "../../src/transport/server.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { type EchoMessage, EchoService, echoImplementation } from "./fixtures/echo.ts";
import { FramePeer, frame, message, u32 } from "./raw-h2.ts";

/** A request header block for an echo method (:scheme and :method as static entries). */
const request = (method: string): Buffer =>
  Buffer.concat([
    Buffer.from([0x83, 0x86]),
    encodeHeaders([
      [":path", `/podplug.test.Echo/${method}`],
      [":authority", "localhost"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]),
  ]);

describe("transport: PodplugServer's podplug HTTP/2 engine against a hand-written HTTP/2 client", () => {
  let tmp: ReturnType<typeof tempDir>;
  let socket: string;
  let server: PodplugServer;
  const peers: FramePeer[] = [];

  const connect = async (): Promise<FramePeer> => {
    const s = net.connect(socket);
    await new Promise<void>((r) => s.once("connect", () => r()));
    const p = new FramePeer(s, "client");
    peers.push(p);
    return p;
  };
  const replyOf = (p: FramePeer, id: number): EchoMessage | undefined => {
    const data = Buffer.concat(p.frames.filter((f) => f.type === 0 && f.id === id).map((f) => f.payload));
    return data.length > 5 ? (JSON.parse(data.subarray(5).toString()) as EchoMessage) : undefined;
  };
  const statusOf = (p: FramePeer, id: number): string | undefined => {
    const h = p.requests.filter((r) => r.id === id).at(-1)?.headers["grpc-status"];
    return typeof h === "string" ? h : undefined;
  };

  beforeEach(async () => {
    tmp = tempDir("ptr-");
    socket = join(tmp.dir, "s.sock");
    server = new PodplugServer();
    server.addService(EchoService, echoImplementation());
    await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, null, (e) => (e ? rej(e) : res())));
  });
  afterEach(() => {
    for (const p of peers.splice(0)) p.socket.destroy();
    server.forceShutdown();
    tmp.remove();
  });

  it("reads prioritised, padded request headers across CONTINUATION and padded DATA; answers PING", async () => {
    const p = await connect();
    const block = request("Unary");
    const head = Buffer.concat([Buffer.from([2]), Buffer.alloc(5), block.subarray(0, 10), Buffer.alloc(2)]);
    const body = message({ text: "raw" });
    p.send(
      frame(1, 0x8 | 0x20, 1, head), // HEADERS: PADDED | PRIORITY, no END_HEADERS
      frame(9, 0x4, 1, block.subarray(10)), // CONTINUATION: END_HEADERS
      frame(6, 0, 0, Buffer.from("12345678")),
      frame(0, 0x8 | 0x1, 1, Buffer.concat([Buffer.from([4]), body, Buffer.alloc(4)])), // DATA: PADDED | END_STREAM
    );
    await p.until(() => statusOf(p, 1) !== undefined);
    assert.equal(statusOf(p, 1), "0");
    assert.equal(replyOf(p, 1)?.text, "raw");
    const ack = p.frames.find((f) => f.type === 6 && f.flags & 1);
    assert.equal(ack?.payload.toString(), "12345678");
  });

  it("finishes a call in flight after the client's GOAWAY", async () => {
    const p = await connect();
    p.send(frame(1, 0x4, 1, request("Unary")), frame(0, 0x1, 1, message({ text: "late", sleepMs: 100 })));
    p.send(frame(7, 0, 0, Buffer.concat([u32(0), u32(0)])));
    await p.until(() => statusOf(p, 1) !== undefined);
    assert.equal(replyOf(p, 1)?.text, "late");
  });

  it("a client reset cancels the handler's call", async () => {
    const p = await connect();
    const stats = async (id: number): Promise<number> => {
      p.send(frame(1, 0x4, id, request("Stats")), frame(0, 0x1, id, message({})));
      await p.until(() => statusOf(p, id) !== undefined);
      return replyOf(p, id)!.cancelled!;
    };
    const before = await stats(1);
    p.send(frame(1, 0x4, 3, request("Unary")), frame(0, 0x1, 3, message({ sleepMs: 5000 })));
    await new Promise((r) => setTimeout(r, 50));
    p.send(frame(3, 0, 3, u32(8)));
    let id = 5;
    await waitFor(async () => (await stats((id += 2))) > before, 5000, "the handler to see the cancel");
  });

  it("a connection that does not start with the client preface is closed", async () => {
    const s = net.connect(socket);
    s.on("error", () => undefined);
    s.resume(); // read what the server sent, so its close can arrive
    s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise<void>((r) => s.once("close", () => r()));
  });
});
