/**
 * podplug's yamux (src/protocol/yamux.ts) over a real Unix socket pair: flow
 * control past the 256 KiB window, half-close, pings, and every hostile
 * frame a peer could send, each ending the session with MULTIPLEX_PROTOCOL.
 * Interop with go-plugin's hashicorp/yamux is in test/interop/multiplex.test.ts.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { join } from "node:path";
import { isPodplugError } from "../../src/errors.ts";
import { YAMUX_INITIAL_WINDOW, YamuxSession, type YamuxStream, yamuxHeader } from "../../src/protocol/yamux.ts";
import { tempDir } from "../helpers.ts";

/** A connected socket pair through a real listener. */
async function pair(): Promise<{ a: net.Socket; b: net.Socket; done: () => void }> {
  const tmp = tempDir("yx-");
  const path = join(tmp.dir, "s");
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = once(server, "connection") as Promise<[net.Socket]>;
  const a = net.connect(path);
  const [b] = await accepted;
  await once(a, "connect").catch(() => undefined);
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

function readAll(s: YamuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

describe("yamux session", () => {
  it("moves 4 MiB each way on one stream past the window, with half-close", async () => {
    const p = await pair();
    try {
      const server = new YamuxSession(p.b, "server", {
        onStream: (s) => {
          // Echo everything back, then end.
          s.pipe(s);
        },
      });
      const client = new YamuxSession(p.a, "client");
      const s = client.open();
      assert.equal(s.id, 1);
      const payload = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
      const got = readAll(s);
      s.end(payload);
      assert.ok((await got).equals(payload));
      assert.ok(payload.length > 8 * YAMUX_INITIAL_WINDOW);
      server.close();
    } finally {
      p.done();
    }
  });

  it("a reader that stops reading stalls the writer at the window instead of buffering without bound", async () => {
    const p = await pair();
    try {
      let accepted: YamuxStream | undefined;
      new YamuxSession(p.b, "server", { onStream: (s) => (accepted = s) });
      const client = new YamuxSession(p.a, "client");
      const s = client.open();
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024);
      const pump = async (): Promise<void> => {
        while (written < 4 * 1024 * 1024) {
          written += chunk.length;
          if (!s.write(chunk)) await once(s, "drain");
        }
      };
      void pump().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(accepted, "the server saw the stream");
      // The server never read: at most its window plus the stream's own write buffer went out.
      assert.ok(written <= 2 * YAMUX_INITIAL_WINDOW + 2 * chunk.length, `wrote ${written}`);
      client.close();
    } finally {
      p.done();
    }
  });

  it("answers a ping with the same opaque value", async () => {
    const p = await pair();
    try {
      new YamuxSession(p.b, "server");
      const reply = once(p.a, "data") as Promise<[Buffer]>;
      p.a.write(yamuxHeader(2, 1, 0, 0xdeadbeef));
      const [d] = await reply;
      assert.deepEqual([...d.subarray(0, 12)], [...yamuxHeader(2, 2, 0, 0xdeadbeef)]);
    } finally {
      p.done();
    }
  });

  const hostile: [string, Buffer, RegExp][] = [
    ["a frame of version 1", Buffer.from([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /unsupported frame version 1/],
    ["an unknown frame type", yamuxHeader(4, 0, 0, 0), /unknown frame type 4/],
    [
      "a data frame longer than any window",
      yamuxHeader(0, 1, 1, YAMUX_INITIAL_WINDOW + 1),
      /exceeds the stream window/,
    ],
    ["a stream frame on stream 0", yamuxHeader(1, 1, 0, 0), /stream 0/],
    ["a ping on a stream", yamuxHeader(2, 1, 3, 0), /ping on stream 3/],
    ["a stream id of the server's own parity", yamuxHeader(1, 1, 2, 0), /parity/],
    ["a duplicate SYN", Buffer.concat([yamuxHeader(1, 1, 1, 0), yamuxHeader(1, 1, 1, 0)]), /duplicate stream id 1/],
    [
      "more data than the window on an open stream",
      Buffer.concat([
        yamuxHeader(1, 1, 1, 0),
        yamuxHeader(0, 0, 1, YAMUX_INITIAL_WINDOW),
        Buffer.alloc(YAMUX_INITIAL_WINDOW),
        yamuxHeader(0, 0, 1, 1),
        Buffer.alloc(1),
      ]),
      /received 1 bytes with a window of 0/,
    ],
  ];
  for (const [what, bytes, message] of hostile) {
    it(`ends the session with MULTIPLEX_PROTOCOL and a go-away on ${what}`, async () => {
      const p = await pair();
      try {
        // The stream is never read, so the window is never credited back.
        const server = new YamuxSession(p.b, "server", { onStream: (s) => s.on("error", () => undefined) });
        const closed = once(server, "close") as Promise<[Error | undefined]>;
        const fromServer: Buffer[] = [];
        p.a.on("data", (d: Buffer) => fromServer.push(d));
        p.a.write(bytes);
        const [err] = await closed;
        assert.ok(isPodplugError(err, "MULTIPLEX_PROTOCOL"), String(err));
        assert.match(err.message, message);
        assert.equal(server.isClosed, true);
        await once(p.a, "close");
        // Last frame: go-away with code 1 (protocol error).
        const all = Buffer.concat(fromServer);
        assert.deepEqual([...all.subarray(all.length - 12)], [...yamuxHeader(3, 0, 0, 1)]);
      } finally {
        p.done();
      }
    });
  }

  it("a stream reset by the peer errors with MULTIPLEX_PROTOCOL; the session lives on", async () => {
    const p = await pair();
    try {
      new YamuxSession(p.b, "server", { onStream: (s) => s.destroy() });
      const client = new YamuxSession(p.a, "client");
      const s = client.open();
      const [err] = (await once(s, "error")) as [Error];
      assert.ok(isPodplugError(err, "MULTIPLEX_PROTOCOL"));
      assert.match(err.message, /reset by the peer/);
      assert.equal(client.isClosed, false);
      assert.equal(client.open().id, 3);
      client.close();
    } finally {
      p.done();
    }
  });

  it("refuses to open streams after the peer's go-away", async () => {
    const p = await pair();
    try {
      const client = new YamuxSession(p.a, "client");
      p.b.write(yamuxHeader(3, 0, 0, 0));
      await new Promise((r) => setTimeout(r, 50));
      assert.throws(
        () => client.open(),
        (err: unknown) => isPodplugError(err, "MULTIPLEX_PROTOCOL"),
      );
    } finally {
      p.done();
    }
  });
});
