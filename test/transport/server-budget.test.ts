/**
 * The budget a PodplugServer's connections share (podplug.serverBudget,
 * h2/byte-budget.ts): its option is checked, and every byte a connection
 * charges comes back on every path, while the connection lives (a stream
 * reset by the peer, at the connection's own bound or past its window, a
 * handler that reads again, a peer that reads its answers) and when it goes
 * (the peer's socket closes, the server shuts down). Raw HTTP/2 peers over real Unix sockets
 * against a server in this process, so the test reads the server's own count.
 * What the budget does under attack is in attacks.test.ts.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { DEFAULT_H2_LIMITS } from "../../src/transport/h2/limits.ts";
import { PodplugServer } from "../../src/transport/server.ts";
import { tempDir } from "../helpers.ts";
import { askUnread, CODE, F, HostilePeer, messages, requestBlock, rstStream } from "./attacks/hostile.ts";
import { frame } from "./raw-h2.ts";

const MB = 1 << 20;
const WAIT_MS = 20_000;

const raw = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
/** Hold: a client stream whose handler reads nothing until told to; Big: one shared 256 KiB answer. */
const BudgetService = {
  hold: { path: "/podplug.test.Budget/Hold", requestStream: true, responseStream: false, ...raw },
  big: { path: "/podplug.test.Budget/Big", requestStream: false, responseStream: false, ...raw },
} satisfies grpc.ServiceDefinition;
const BIG = Buffer.alloc(256 * 1024, 7);

function bind(server: PodplugServer, path: string): Promise<void> {
  return new Promise((res, rej) => server.bindAsync(`unix://${path}`, null, (e) => (e ? rej(e) : res())));
}

describe("transport: the budget a server's connections share", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let sock: string;
  let server: PodplugServer;
  let peers: HostilePeer[];
  /** The Hold calls in progress; reading one lets its stream go on. */
  let holding: grpc.ServerReadableStream<Buffer, Buffer>[];

  beforeEach(async () => {
    tmp = tempDir("ptx-budget-");
    sock = join(tmp.dir, "s.sock");
    peers = [];
    holding = [];
    server = new PodplugServer({ "podplug.engine": "podplug" });
    server.addService(BudgetService, {
      hold: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        holding.push(call);
        call.on("end", () => cb(null, Buffer.alloc(0)));
        call.on("error", () => undefined);
      },
      big: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, BIG),
    });
    await bind(server, sock);
  });
  afterEach(() => {
    for (const p of peers) p.destroy();
    server.forceShutdown();
    tmp.remove();
  });

  async function connect(): Promise<HostilePeer> {
    const p = new HostilePeer(net.connect(sock), "client");
    peers.push(p);
    await p.until(() => p.settings.size > 0, WAIT_MS);
    return p;
  }

  const use = (): { pausedBytes: number; sendQueueBytes: number } => server.budgetUse()!;

  /** Waits (bounded) until the server's count is `want`, then checks it. */
  async function settles(want: { pausedBytes: number; sendQueueBytes: number }, what: string): Promise<void> {
    for (let end = Date.now() + WAIT_MS; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
      if (use().pausedBytes === want.pausedBytes && use().sendQueueBytes === want.sendQueueBytes) break;
    assert.deepEqual(use(), want, what);
  }

  it("podplug.serverBudget is checked: anything but positive integers for its two fields is a coded error", () => {
    for (const bad of [0, "1", null, { maxPausedBytes: 0 }, { maxSendQueueBytes: 1.5 }, { maxPaused: 1 }] as unknown[])
      assert.throws(
        () => new PodplugServer({ "podplug.serverBudget": bad as { maxPausedBytes: number } }),
        { code: "TRANSPORT_OPTION_INVALID" },
        JSON.stringify(bad),
      );
    assert.equal(new PodplugServer({ "podplug.serverBudget": { maxPausedBytes: 1 } }).budgetUse(), undefined);
    assert.deepEqual(use(), { pausedBytes: 0, sendQueueBytes: 0 });
  });

  it("paused bytes come back exactly on every path: the peer's reset, the connection's own bound, a handler that reads again, DATA past a stream's window, the peer's socket closing, the server's shutdown", async () => {
    const conns = 20;
    const perStream = 512 * 1024;
    for (let i = 0; i < conns; i++) {
      const p = await connect();
      for (const id of [1, 3]) {
        p.send(frame(F.HEADERS, F.END_HEADERS, id, requestBlock("/podplug.test.Budget/Hold")));
        await p.sendWithinWindows(id, perStream, messages(id, perStream), 5000);
      }
      await p.roundTrip(WAIT_MS);
    }
    // Each stream's handler took 16 messages and paused it; nothing was granted back, so all 512 KiB count.
    const sent = (p: HostilePeer): number => (p.dataSent.get(1) ?? 0) + (p.dataSent.get(3) ?? 0);
    let held = peers.reduce((n, p) => n + sent(p), 0);
    assert.ok(held >= conns * 2 * perStream);
    assert.deepEqual(use(), { pausedBytes: held, sendQueueBytes: 0 }, "every paused byte is counted");

    // Group 1: the peer resets its streams.
    for (const p of peers.slice(0, 5)) {
      p.send(Buffer.concat([rstStream(1, 8), rstStream(3, 8)]));
      held -= sent(p);
    }
    await settles({ pausedBytes: held, sendQueueBytes: 0 }, "a reset stream gives its bytes back");

    // Group 2: past the connection's own bound (16 MiB) the server resets the stream that went over.
    const over = peers[5]!;
    const window = over.settings.get(0x4)!;
    const more = DEFAULT_H2_LIMITS.maxPausedBytes / window + 1;
    for (let i = 0; i < more; i++) {
      const id = 5 + 2 * i;
      over.send(frame(F.HEADERS, F.END_HEADERS, id, requestBlock("/podplug.test.Budget/Hold")));
      await over.sendWithinWindows(id, window, messages(id, window), 5000);
      await over.roundTrip(WAIT_MS);
    }
    assert.ok([...over.resets.values()].includes(CODE.ENHANCE_YOUR_CALM), "a stream was reset at the bound");
    const kept = [...over.dataSent.keys()].filter((id) => id !== 0 && !over.resets.has(id));
    const overHeld = kept.reduce((n, id) => n + over.dataSent.get(id)!, 0);
    held += overHeld - sent(over);
    await settles({ pausedBytes: held, sendQueueBytes: 0 }, "the stream reset at the bound gives its bytes back");
    assert.ok(overHeld <= DEFAULT_H2_LIMITS.maxPausedBytes);

    // Group 3: the handlers read again and the peer ends its requests: answered, nothing held.
    const reading = peers.slice(6, 11);
    // Their Hold handlers, in the order the streams opened: two per connection.
    const readers = holding.slice(12, 22);
    for (const r of readers) r.on("data", () => undefined);
    for (const p of reading) {
      p.send(frame(F.DATA, F.END_STREAM, 1, Buffer.alloc(0)));
      p.send(frame(F.DATA, F.END_STREAM, 3, Buffer.alloc(0)));
      held -= sent(p);
    }
    for (const p of reading) await p.until(() => p.requests.filter((id) => id === 1 || id === 3).length === 4, WAIT_MS);
    assert.ok(
      reading.every((p) => p.requests.filter((id) => id === 1 || id === 3).length === 4),
      "the calls were answered",
    );
    await settles({ pausedBytes: held, sendQueueBytes: 0 }, "a stream read to its end gives its bytes back");

    // Group 4: DATA past a paused stream's window (RST_STREAM FLOW_CONTROL_ERROR).
    const abuser = peers[11]!;
    const beyond = messages(1, 2 * window);
    for (let f = beyond(); f; f = beyond()) abuser.send(f);
    await abuser.until(() => abuser.resets.has(1), WAIT_MS);
    assert.equal(abuser.resets.get(1), CODE.FLOW_CONTROL_ERROR);
    held -= abuser.dataSent.get(1)!;
    await settles({ pausedBytes: held, sendQueueBytes: 0 }, "a stream reset past its window gives its bytes back");

    // Group 5: the peers' sockets close.
    for (const p of peers.slice(11, 16)) {
      p.destroy();
      held -= p === abuser ? abuser.dataSent.get(3)! : sent(p);
    }
    await settles({ pausedBytes: held, sendQueueBytes: 0 }, "a closed connection gives back all it held");
    assert.ok(held > 0, "the rest still hold theirs");

    // The rest: the server shuts down.
    server.forceShutdown();
    await settles({ pausedBytes: 0, sendQueueBytes: 0 }, "a server shut down holds nothing");
  });

  it("bytes to send come back exactly: once the peer reads them (connection still open), and when a connection that never read closes", async () => {
    const calls = 24;
    const ids = Array.from({ length: calls }, (_, i) => 1 + 2 * i);
    const readers = [await connect(), await connect()];
    const never = [await connect(), await connect()];
    for (const p of [...readers, ...never]) await askUnread(p, ids, "/podplug.test.Budget/Big");
    // Until the server has framed every answer (6 MiB per connection, under both bounds): the count stops moving.
    let last = -1;
    for (let end = Date.now() + WAIT_MS; Date.now() < end && use().sendQueueBytes !== last; ) {
      last = use().sendQueueBytes;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(use().sendQueueBytes > 4 * MB, `held ${use().sendQueueBytes}: what the peers do not read is counted`);
    for (const p of readers) p.startReading();
    for (const p of readers)
      await p.until(() => ids.every((id) => p.requests.filter((r) => r === id).length === 2), WAIT_MS);
    for (const p of readers) assert.equal(p.resets.size, 0);
    const stillHeld = use().sendQueueBytes;
    assert.ok(stillHeld > 0 && stillHeld < 4 * calls * BIG.length, `held ${stillHeld}: what the others hold`);
    for (const p of never) p.destroy();
    await settles({ pausedBytes: 0, sendQueueBytes: 0 }, "read or closed, nothing is held");
    assert.ok(
      readers.every((p) => !p.closed),
      "the readers' connections are still open",
    );
  });

  it("a handler that reads nothing: the messages its stream took count as paused bytes, so big messages cannot pile up past the connection's bound", async () => {
    // 1 MiB messages in 16 KiB DATA frames: each message is worth two WINDOW_UPDATEs, so before the held
    // messages were counted a stream took 16 of them (its readable's high-water mark) with its window coming back.
    const msg = 1 << 20;
    const bigMessages = (id: number): (() => Buffer | undefined) => {
      const body = Buffer.alloc(msg + 5, 2);
      body.writeUInt8(0, 0);
      body.writeUInt32BE(msg, 1);
      let at = 0;
      return () => {
        const chunk = body.subarray(at % body.length, Math.min(body.length, (at % body.length) + 16_384));
        at += chunk.length;
        return frame(F.DATA, 0, id, chunk);
      };
    };
    const p = await connect();
    // Each stream pauses once its handler holds 2 messages (over HELD_PAUSE_BYTES) and the peer has used the window
    // it had: ≈3 MiB a stream, 2 MiB of them counted. The ninth stream or so takes the count over the bound.
    const ids = Array.from({ length: 12 }, (_, i) => 1 + 2 * i);
    for (const id of ids) {
      p.send(frame(F.HEADERS, F.END_HEADERS, id, requestBlock("/podplug.test.Budget/Hold")));
      await p.sendWithinWindows(id, 8 * msg, bigMessages(id), 1000);
    }
    await p.roundTrip(WAIT_MS);
    const bound = DEFAULT_H2_LIMITS.maxPausedBytes;
    const reset = ids.filter((id) => p.resets.get(id) === CODE.ENHANCE_YOUR_CALM);
    assert.ok(reset.length > 0, `some stream was reset ENHANCE_YOUR_CALM: ${JSON.stringify([...p.resets])}`);
    const kept = ids.filter((id) => !p.resets.has(id)).reduce((n, id) => n + (p.dataSent.get(id) ?? 0), 0);
    // The count stays under the bound; what the live streams hold beyond it is each one's message in the making
    // (at most its window). Before, each stream took 16 MiB here and the count showed almost nothing.
    assert.ok(use().pausedBytes <= bound, `counted ${use().pausedBytes}, over ${bound}`);
    assert.ok(use().pausedBytes >= kept / 2, `counted ${use().pausedBytes} of the ${kept} bytes the live streams hold`);
    assert.ok(kept <= 2 * bound, `the live streams hold ${kept} bytes`);
    // The handlers read again: the bytes come back.
    for (const call of holding) call.resume();
    p.startReading();
    await settles({ pausedBytes: 0, sendQueueBytes: 0 }, "read, nothing is held");
  });
});
