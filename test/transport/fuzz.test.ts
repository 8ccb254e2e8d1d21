/**
 * Fuzzing the parsers a peer feeds: the HTTP/2 frame reader (both roles), the
 * HPACK decoder and the gRPC message deframer, with fast-check (property-based,
 * shrinking each failure to a minimal input). `make test` runs a bounded number
 * of inputs per target; `make fuzz-properties` runs PODPLUG_FUZZ_RUNS (default 1,000,000)
 * each. Properties: nothing a peer sends makes a parser throw anything but its
 * own coded error, the connection either stays open or closes with a coded
 * HTTP/2 error, and what it keeps of a half-read frame stays under one frame.
 * Inputs that once broke a property are kept below as regression cases.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { H2Connection, type StreamSink } from "../../src/transport/h2/connection.ts";
import { encodeHeaders, HpackDecoder, HpackError } from "../../src/transport/h2/hpack.ts";
import { encodeMessage, MessageDecoder } from "../../src/transport/message-framing.ts";
import { cutAt, MemorySocket } from "../fuzz/jazzer/crash.ts";
import { feed as feedPieces, REQUEST } from "../fuzz/jazzer/h2-feed.ts";
import { check, RUNS } from "../fuzz/runs.ts";
import { frame, PREFACE, settings } from "./raw-h2.ts";

const DATA = 0x0;
const HEADERS = 0x1;

const SINK: StreamSink = { onHeaders() {}, onData() {}, onEnd() {}, onClose() {} };

/** A frame with fields fast-check chooses: any type (known ones more often), flags, a small stream id, a payload. */
const frameArb = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })),
    flags: fc.integer({ min: 0, max: 255 }),
    id: fc.oneof(fc.constantFrom(0, 1, 3, 5), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.constant(REQUEST),
      fc.constant(new Uint8Array([0, 0, 0, 0, 1])),
      fc.constant(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0])),
    ),
  })
  .map(({ type, flags, id, payload }) => frame(type, flags, id, Buffer.from(payload)));

/** The byte stream: frames, sometimes raw bytes between them, cut into chunks at arbitrary points. */
const streamArb = fc.record({
  parts: fc.array(
    fc.oneof(
      { weight: 5, arbitrary: frameArb },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u)) },
    ),
    {
      maxLength: 24,
    },
  ),
  cuts: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
});

/** Feeds `bytes` cut at `cuts` to a fresh connection of `role`: the jazzer target's property (test/fuzz/jazzer/h2-feed.ts). */
const feed = (role: "client" | "server", bytes: Buffer, cuts: number[]): void => feedPieces(role, cutAt(bytes, cuts));

describe("fuzzing the parsers a peer feeds", function () {
  this.timeout(600_000);

  it("the HTTP/2 frame reader of a server: any bytes after the preface", async () => {
    await check(
      fc.property(streamArb, ({ parts, cuts }) => feed("server", Buffer.concat([PREFACE, settings(), ...parts]), cuts)),
      RUNS,
    );
  });

  it("the HTTP/2 frame reader of a client with a call open: any bytes after the server's SETTINGS", async () => {
    await check(
      fc.property(streamArb, ({ parts, cuts }) => feed("client", Buffer.concat([settings(), ...parts]), cuts)),
      RUNS,
    );
  });

  it("the frame reader: DATA frames cut anywhere across reads reach the stream byte for byte", async () => {
    const payloads = fc.array(
      fc.integer({ min: 1, max: 16_384 }).map((n) => Buffer.alloc(n, n % 251)),
      { minLength: 1, maxLength: 4 },
    );
    await check(
      fc.property(payloads, fc.array(fc.integer({ min: 1, max: 40_000 }), { maxLength: 10 }), (datas, cuts) => {
        const sock = new MemorySocket();
        const got: Buffer[] = [];
        let ended = false;
        const conn = new H2Connection(sock, {
          role: "server",
          onStream: () => ({ ...SINK, onData: (d) => got.push(Buffer.from(d)), onEnd: () => (ended = true) }),
          onReady() {},
          onDraining() {},
          onClosed() {},
        });
        const last = datas.length - 1;
        const bytes = Buffer.concat([
          PREFACE,
          settings(),
          frame(HEADERS, 0x4, 1, REQUEST),
          ...datas.map((d, i) => frame(DATA, i === last ? 0x1 : 0, 1, d)),
        ]);
        let off = 0;
        for (const n of [...cuts, bytes.length]) {
          if (off >= bytes.length) break;
          sock.emit("data", bytes.subarray(off, off + n));
          off += n;
        }
        assert.deepEqual(Buffer.concat(got), Buffer.concat(datas));
        assert.ok(ended, "END_STREAM seen");
        assert.equal((conn as unknown as { inBytes: number }).inBytes, 0, "nothing left half-read");
        conn.destroy(new Error("connection closed"));
      }),
      100,
    );
  });

  it("the frame reader on raw bytes (no structure at all)", async () => {
    await check(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.array(fc.integer({ min: 1, max: 64 })), (raw, cuts) => {
        feed("server", Buffer.concat([PREFACE, Buffer.from(raw)]), cuts);
        feed("client", Buffer.from(raw), cuts);
      }),
      RUNS,
    );
  });

  it("the HPACK decoder: any block decodes or throws HpackError, within the list size", async () => {
    // Blocks built of HPACK's representations (indexes, literals, size updates) and raw bytes.
    const rep = fc.oneof(
      fc.integer({ min: 0x80, max: 0xff }).map((b) => [b]),
      fc
        .tuple(fc.constantFrom(0x40, 0x00, 0x10), fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }))
        .map(([p, n, v]) => [p, n.length, ...n, v.length, ...v]),
      fc.integer({ min: 0x20, max: 0x3f }).map((b) => [b]),
      fc.uint8Array({ maxLength: 6 }).map((u) => [...u]),
    );
    await check(
      fc.property(
        fc.array(fc.array(rep, { maxLength: 16 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 64, max: 4096 }),
        (blocks, max) => {
          // One decoder across blocks: its dynamic table carries over, as on a connection.
          const d = new HpackDecoder();
          for (const reps of blocks) {
            const block = Buffer.from(reps.flat());
            try {
              const h = d.decode(block, max);
              let size = 0;
              for (const k in h) for (const v of ([] as string[]).concat(h[k]!)) size += k.length + v.length + 32;
              assert.ok(size <= max, `decoded ${size} bytes over the ${max} allowed`);
            } catch (err) {
              if (!(err instanceof HpackError)) throw err;
              return; // the connection would end here
            }
          }
        },
      ),
      RUNS,
    );
  });

  it("HPACK: what encodeHeaders writes decodes to the same fields", async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    const value = fc.string({
      maxLength: 40,
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    });
    await check(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 12 }), (fields) => {
        const h = new HpackDecoder().decode(encodeHeaders(fields));
        assert.deepEqual(h, Object.fromEntries(fields));
      }),
      RUNS,
    );
  });

  it("the gRPC message deframer: messages cut anywhere come out whole; bad bytes fail with a reason", async () => {
    await check(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        (msgs, cuts, junk) => {
          const stream = Buffer.concat([...msgs.map((m) => encodeMessage(Buffer.from(m))), Buffer.from(junk)]);
          const d = new MessageDecoder(256);
          const out: Buffer[] = [];
          let off = 0;
          for (const n of [...cuts, stream.length]) {
            if (!d.push(stream.subarray(off, off + n), (p) => out.push(Buffer.from(p)))) break;
            off += n;
            if (off >= stream.length) break;
          }
          // Every message under the limit that came before the first oversize one arrived intact.
          const firstBig = msgs.findIndex((m) => m.length > 256);
          const expected = (firstBig < 0 ? msgs : msgs.slice(0, firstBig)).map((m) => Buffer.from(m));
          assert.deepEqual(out.slice(0, expected.length), expected);
          if (d.failure) assert.ok(d.failure === "too-large" || d.failure === "bad-flag");
        },
      ),
      RUNS,
    );
  });
});
