/**
 * Writes the seed corpus of the jazzer.js targets (test/fuzz/corpus/<target>/seed-*):
 * small valid inputs of each format, so that the fuzzer starts from what a
 * peer really sends and mutates from there. The files are committed; rerun
 * `node test/fuzz/jazzer/seeds.ts` after changing this file. The manifest
 * target's seeds are the YAML files already in test/fuzz/corpus/manifests/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeHeaders } from "../../../src/transport/h2/hpack.ts";
import { encodeMessage } from "../../../src/transport/message-framing.ts";
import { frame } from "../../transport/raw-h2.ts";
import { REQUEST } from "./h2-feed.ts";

const CORPUS = join(import.meta.dirname, "..", "corpus");

const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const setting = (k: number, v: number): Buffer => Buffer.concat([Buffer.from([k >> 8, k & 255]), u32(v)]);
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const [DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const ACK = 0x1;
const MSG = encodeMessage(Buffer.from("hello"));

/** Byte 0 of an H2 or deframer input: the chunk size the socket delivers (0: one piece). */
const whole = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0]), b]);
const cut = (n: number, b: Buffer): Buffer => Buffer.concat([Buffer.from([n]), b]);

const h2Common: Record<string, Buffer> = {
  "settings-ack": whole(frame(SETTINGS, ACK, 0)),
  settings: whole(frame(SETTINGS, 0, 0, Buffer.concat([setting(1, 4096), setting(3, 100), setting(4, 65535)]))),
  ping: whole(frame(PING, 0, 0, Buffer.alloc(8, 7))),
  "window-update": whole(frame(WINDOW, 0, 0, u32(65535))),
  goaway: whole(frame(GOAWAY, 0, 0, Buffer.concat([u32(1), u32(0)]))),
  "unknown-type": whole(frame(0xfa, 0xff, 0, Buffer.from("x"))),
};

const seeds: Record<string, Record<string, Buffer>> = {
  "h2-server": {
    ...h2Common,
    "unary-call": whole(Buffer.concat([frame(HEADERS, END_HEADERS, 1, REQUEST), frame(DATA, END_STREAM, 1, MSG)])),
    "unary-call-cut": cut(7, Buffer.concat([frame(HEADERS, END_HEADERS, 1, REQUEST), frame(DATA, END_STREAM, 1, MSG)])),
    "headers-only": whole(frame(HEADERS, END_HEADERS | END_STREAM, 1, REQUEST)),
    continuation: whole(
      Buffer.concat([
        frame(HEADERS, 0, 1, REQUEST.subarray(0, 5)),
        frame(CONT, END_HEADERS, 1, REQUEST.subarray(5)),
        frame(DATA, END_STREAM, 1, MSG),
      ]),
    ),
    padded: whole(
      Buffer.concat([
        frame(HEADERS, END_HEADERS | PADDED, 1, Buffer.concat([Buffer.from([3]), REQUEST, Buffer.alloc(3)])),
        frame(DATA, END_STREAM | PADDED, 1, Buffer.concat([Buffer.from([2]), MSG, Buffer.alloc(2)])),
      ]),
    ),
    "priority-then-call": whole(
      Buffer.concat([
        frame(PRIORITY, 0, 3, Buffer.concat([u32(1), Buffer.from([15])])),
        frame(HEADERS, END_HEADERS | 0x20, 3, Buffer.concat([u32(0), Buffer.from([15]), REQUEST])),
      ]),
    ),
    "rst-stream": whole(Buffer.concat([frame(HEADERS, END_HEADERS, 1, REQUEST), frame(RST, 0, 1, u32(8))])),
    "two-streams": whole(
      Buffer.concat([
        frame(HEADERS, END_HEADERS, 1, REQUEST),
        frame(HEADERS, END_HEADERS, 3, REQUEST),
        frame(WINDOW, 0, 1, u32(1000)),
        frame(DATA, END_STREAM, 3, MSG),
        frame(DATA, END_STREAM, 1, MSG),
      ]),
    ),
  },
  "h2-client": {
    ...h2Common,
    response: whole(
      Buffer.concat([
        frame(
          HEADERS,
          END_HEADERS,
          1,
          Buffer.concat([Buffer.from([0x88]), encodeHeaders([["content-type", "application/grpc"]])]),
        ),
        frame(DATA, 0, 1, MSG),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([["grpc-status", "0"]])),
      ]),
    ),
    "trailers-only": whole(
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        encodeHeaders([
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "12"],
          ["grpc-message", "unknown method"],
        ]),
      ),
    ),
    "response-continuation": cut(
      5,
      Buffer.concat([
        frame(HEADERS, 0, 1, Buffer.from([0x88])),
        frame(CONT, END_HEADERS, 1, encodeHeaders([["content-type", "application/grpc"]])),
        frame(DATA, END_STREAM, 1, MSG),
      ]),
    ),
    "push-promise": whole(frame(PUSH, END_HEADERS, 1, Buffer.concat([u32(2), Buffer.from([0x82])]))),
    "rst-stream": whole(frame(RST, 0, 1, u32(7))),
  },
  "hpack-decoder": {
    // Bytes 0-1: the header list size allowed; then blocks, each a length byte and its bytes.
    "rfc7541-c3-requests": Buffer.concat([
      Buffer.from([0x10, 0x00]),
      ...[
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
      ].map((h) => Buffer.concat([Buffer.from([h.length / 2]), hex(h)])),
    ]),
    "rfc7541-c4-huffman": Buffer.concat([
      Buffer.from([0x10, 0x00]),
      ...[
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
      ].map((h) => Buffer.concat([Buffer.from([h.length / 2]), hex(h)])),
    ]),
    "size-update-then-literal": Buffer.concat([
      Buffer.from([0x01, 0x00]),
      Buffer.from([8]),
      hex("3f e1 1f 40 01 61 01 62"),
    ]),
    "grpc-request": Buffer.concat([Buffer.from([0x20, 0x00, REQUEST.length]), REQUEST]),
    "never-indexed": Buffer.concat([Buffer.from([0x02, 0x00]), Buffer.from([7]), hex("10 01 61 03 73 65 63")]),
  },
  "message-decoder": {
    one: whole(MSG),
    two: whole(Buffer.concat([MSG, encodeMessage(Buffer.from("world!"))])),
    "cut-in-header": cut(3, Buffer.concat([MSG, MSG, MSG])),
    empty: whole(encodeMessage(Buffer.alloc(0))),
    compressed: whole(Buffer.concat([Buffer.from([1]), u32(3), Buffer.from("abc")])),
    "too-large": whole(Buffer.concat([Buffer.from([0]), u32(257), Buffer.alloc(8)])),
    "bad-flag": whole(Buffer.concat([MSG, Buffer.from([2]), u32(1), Buffer.from("x")])),
  },
  handshake: {
    // Byte 0 bit 0: the host asked for multiplexing.
    unix: Buffer.from("\x001|1|unix|/tmp/plugin123/plugin.sock|grpc|"),
    "unix-v2": Buffer.from("\x001|2|unix|/tmp/p.sock|grpc|"),
    tcp: Buffer.from("\x001|1|tcp|127.0.0.1:1234|grpc|"),
    netrpc: Buffer.from("\x001|1|unix|/tmp/p.sock|netrpc|"),
    multiplex: Buffer.from("\x011|1|unix|/tmp/p.sock|grpc||true"),
    "auto-mtls": Buffer.from(`\x001|1|unix|/tmp/p.sock|grpc|${"MIIBszCCAVmgAwIBAgIRAK".padEnd(80, "A")}`),
    "wrong-core": Buffer.from("\x002|1|unix|/tmp/p.sock|grpc|"),
  },
  hclog: {
    json: Buffer.from(
      '{"@level":"info","@message":"serving","@timestamp":"2026-11-23T06:55:01.123456Z","@module":"kv","port":1}\n' +
        '{"@level":"ERROR","@message":"failed","err":"x"}\n',
    ),
    "std-logger": Buffer.from(
      "2026/11/23 06:55:01 [INFO] plugin started\n[WARN] slow\n[DEBUG] x\n[TRACE] y\n[ERROR] z",
    ),
    panic: Buffer.from("panic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:5\n"),
    plain: Buffer.from("just text\n{not json\n"),
  },
};

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(CORPUS, target);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `seed-${name}`), bytes);
}
