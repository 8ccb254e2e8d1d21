/**
 * Fuzzing go-plugin's protocol parsers with fast-check, as
 * test/transport/fuzz.test.ts does for HTTP/2: the handshake line, hclog
 * lines, yamux frames and line splitting. `make test` runs PODPLUG_FUZZ_RUNS
 * (300) inputs per target, `make fuzz-properties` 1,000,000. Properties: a parser gives
 * its result or its own coded error, never another exception; what a valid
 * input means survives a round trip; a hostile byte stream ends a yamux
 * session with a MULTIPLEX_* code and never grows what it keeps past a frame.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { isPodplugError } from "../../src/errors.ts";
import { LineSplitter } from "../../src/process/lines.ts";
import { formatHandshake, type Handshake, parseHandshake } from "../../src/protocol/handshake.ts";
import { formatLine, type HclogLevel, parseLine } from "../../src/protocol/hclog.ts";
import { YAMUX_INITIAL_WINDOW, YamuxSession, type YamuxStream, yamuxHeader } from "../../src/protocol/yamux.ts";
import { MemorySocket } from "../fuzz/jazzer/crash.ts";
import { check, RUNS } from "../fuzz/runs.ts";

const LEVELS: HclogLevel[] = ["trace", "debug", "info", "warn", "error"];

describe("fuzzing go-plugin's protocol parsers", function () {
  this.timeout(600_000);

  it("the handshake parser: any line parses or fails with a HANDSHAKE_*/MULTIPLEX_* code", async () => {
    const field = fc.oneof(
      fc.constantFrom(
        "1",
        "2",
        "0",
        "-1",
        "unix",
        "tcp",
        "grpc",
        "netrpc",
        "true",
        "false",
        "",
        "/tmp/p",
        "127.0.0.1:1",
      ),
      fc.string({ maxLength: 12 }),
    );
    const line = fc.oneof(
      fc.array(field, { maxLength: 9 }).map((f) => f.join("|")),
      fc.string({ maxLength: 80 }),
    );
    await check(
      fc.property(line, fc.boolean(), (l, multiplex) => {
        try {
          const h = parseHandshake(l, { versions: [1, 2], multiplex });
          assert.ok(h.core === 1 && (h.appVersion === 1 || h.appVersion === 2));
        } catch (err) {
          assert.ok(isPodplugError(err), `not a coded error: ${String(err)}`);
          assert.match(err.code, /^(HANDSHAKE|MULTIPLEX)_/);
        }
      }),
      RUNS,
    );
  });

  it("the handshake: what formatHandshake writes parses back to the same fields", async () => {
    const h = fc.record({
      core: fc.constant(1),
      appVersion: fc.integer({ min: 1, max: 1000 }),
      network: fc.constant("unix" as const),
      address: fc.stringMatching(/^\/[a-zA-Z0-9._/-]{1,60}$/),
      protocol: fc.constant("grpc" as const),
      // go-plugin reads field 6 as a certificate only when it is longer than 50 characters.
      serverCert: fc.oneof(fc.constant(""), fc.stringMatching(/^[A-Za-z0-9+/]{51,120}$/)),
    });
    await check(
      fc.property(h, (x: Handshake) => {
        assert.deepEqual(parseHandshake(formatHandshake(x), { versions: [x.appVersion] }), { ...x });
      }),
      RUNS,
    );
  });

  it("hclog lines: any line (JSON or not) parses to a level and a message, never throws", async () => {
    const value = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null));
    const line = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc
        .dictionary(
          fc.oneof(fc.constantFrom("@level", "@message", "@timestamp", "@module"), fc.string({ maxLength: 6 })),
          fc.oneof(value, fc.array(value, { maxLength: 3 })),
          { maxKeys: 6 },
        )
        .map((o) => JSON.stringify(o)),
      fc
        .tuple(
          fc.constantFrom("[DEBUG]", "[INFO]", "[WARN]", "[ERROR]", "[TRACE]", "panic:", "goroutine 1 [running]:"),
          fc.string({ maxLength: 20 }),
        )
        .map(([a, b]) => `${a} ${b}`),
      fc.string({ maxLength: 30 }).map((s) => `{${s}`),
    );
    await check(
      fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
        const state = { inPanic: false };
        for (const l of lines) {
          const p = parseLine(l, state, "debug");
          assert.ok(LEVELS.includes(p.level), p.level);
          assert.equal(typeof p.message, "string");
        }
      }),
      RUNS,
    );
  });

  it("hclog: what formatLine writes parses back to its level, message and fields", async () => {
    await check(
      fc.property(
        fc.constantFrom(...LEVELS),
        fc.string({ maxLength: 40 }),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z_]{0,8}$/), fc.oneof(fc.string({ maxLength: 10 }), fc.integer())),
        (level, message, fields) => {
          const p = parseLine(formatLine(level, message, fields).trimEnd(), { inPanic: false });
          assert.equal(p.level, level);
          assert.equal(p.message, message);
          assert.ok(p.json);
          for (const [k, v] of Object.entries(fields)) assert.deepEqual(p.fields[k], v);
        },
      ),
      RUNS,
    );
  });

  it("yamux frames: any byte stream keeps the session, or ends it with a MULTIPLEX_* code; what it keeps stays under a frame", async () => {
    const frameArb = fc
      .record({
        type: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })),
        flags: fc.oneof(fc.constantFrom(0, 1, 2, 4, 8), fc.integer({ min: 0, max: 0xffff })),
        id: fc.oneof(fc.constantFrom(0, 1, 2, 3, 5), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
        payload: fc.uint8Array({ maxLength: 48 }),
        lie: fc.oneof(
          { weight: 6, arbitrary: fc.constant(-1) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }) },
        ),
      })
      .map(({ type, flags, id, payload, lie }) => {
        const p = Buffer.from(payload);
        const length = lie >= 0 ? lie : type === 0 ? p.length : p.length % 300_000;
        const h = yamuxHeader(type, flags, id, length);
        h[0] = type > 3 ? type & 1 : 0; // now and then a bad version
        return type === 0 ? Buffer.concat([h, p]) : h;
      });
    await check(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 5, arbitrary: frameArb },
            { weight: 1, arbitrary: fc.uint8Array({ maxLength: 14 }).map((u) => Buffer.from(u)) },
          ),
          { maxLength: 20 },
        ),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }),
        fc.constantFrom("client" as const, "server" as const),
        (parts, cuts, role) => {
          const sock = new MemorySocket();
          const streams: YamuxStream[] = [];
          const session = new YamuxSession(sock, role, {
            onStream: (s) => {
              s.on("error", () => undefined);
              streams.push(s);
            },
          });
          let closedWith: Error | undefined | null = null;
          session.on("close", (err) => {
            closedWith = err;
          });
          const bytes = Buffer.concat(parts);
          let off = 0;
          for (const n of [...cuts, bytes.length]) {
            if (off >= bytes.length) break;
            sock.emit("data", bytes.subarray(off, off + n));
            off += n;
          }
          if (closedWith !== null && closedWith !== undefined)
            assert.ok(
              isPodplugError(closedWith as Error) && /^MULTIPLEX_/.test((closedWith as { code: string }).code),
              String(closedWith),
            );
          const kept = (session as unknown as { buf: Buffer }).buf;
          assert.ok(kept.length < 12 + YAMUX_INITIAL_WINDOW, `kept ${kept.length} bytes`);
          for (const s of streams) s.destroy();
          session.close();
        },
      ),
      RUNS,
    );
  });

  it("line splitting: output cut into chunks anywhere splits into the same lines as in one piece", async () => {
    const text = fc
      .array(fc.oneof(fc.constantFrom("\n", "\r\n", "\r", "é", "😀"), fc.string({ maxLength: 12 })), { maxLength: 30 })
      .map((a) => a.join(""));
    await check(
      fc.property(
        text,
        fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 16 }),
        (t, cuts, max) => {
          const split = (chunks: Buffer[]): string[] => {
            const out: string[] = [];
            const s = new LineSplitter((l) => out.push(l), max);
            for (const c of chunks) s.push(c);
            s.flush();
            return out;
          };
          const bytes = Buffer.from(t, "utf8");
          const chunks: Buffer[] = [];
          let off = 0;
          for (const n of cuts) {
            chunks.push(bytes.subarray(off, off + n));
            off += n;
          }
          chunks.push(bytes.subarray(off));
          const whole = split([bytes]);
          assert.deepEqual(split(chunks), whole);
          for (const l of whole) assert.ok(l.length <= max, `a line of ${l.length} > ${max}`);
          if (!t.includes("\r") && t.length <= max)
            assert.deepEqual(whole, t === "" ? [] : t.split("\n").filter((_, i, a) => i < a.length - 1 || a[i] !== ""));
        },
      ),
      RUNS,
    );
  });
});
