/**
 * The transport's pure parts: grpc-message percent-encoding, status and
 * timeout mapping, and the message deframer over arbitrary chunk splits.
 */
import { strict as assert } from "node:assert";
import { constants as h2 } from "node:http2";
import { deflateSync, gzipSync } from "node:zlib";
import { status } from "@grpc/grpc-js";
import { inflate } from "../../src/transport/compression.ts";
import { defaultEngine } from "../../src/transport/engines/dial.ts";
import { encodeMessage, MessageDecoder } from "../../src/transport/message-framing.ts";
import {
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatTimeout,
  httpStatusToGrpc,
  parseGrpcStatus,
  parseTimeout,
  rstCodeToGrpc,
} from "../../src/transport/status.ts";

describe("transport units", () => {
  it("picks podplug's HTTP/2 engine unless PODPLUG_HTTP2_ENGINE=node-http2", () => {
    assert.equal(defaultEngine({}), "podplug");
    assert.equal(defaultEngine({ PODPLUG_HTTP2_ENGINE: "node-http2" }), "node-http2");
    assert.equal(defaultEngine({ PODPLUG_HTTP2_ENGINE: "other" }), "podplug");
  });

  describe("grpc-message", () => {
    it("leaves printable ASCII alone and escapes the rest as UTF-8 bytes", () => {
      assert.equal(encodeGrpcMessage("plain text ~!"), "plain text ~!");
      assert.equal(encodeGrpcMessage("100%"), "100%25");
      assert.equal(encodeGrpcMessage("a\nb"), "a%0Ab");
      assert.equal(encodeGrpcMessage("é"), "%C3%A9");
    });
    it("decodes what it encodes, and keeps malformed escapes", () => {
      const s = "nope: 100% — ünïcödé\r\n\ttab";
      assert.equal(decodeGrpcMessage(encodeGrpcMessage(s)), s);
      assert.equal(decodeGrpcMessage("50%"), "50%");
      assert.equal(decodeGrpcMessage("%zz%4"), "%zz%4");
      assert.equal(decodeGrpcMessage("%e2%82%ac"), "€");
    });
  });

  describe("status mapping", () => {
    it("maps HTTP statuses as gRPC's http-grpc-status-mapping says", () => {
      assert.equal(httpStatusToGrpc(400), status.INTERNAL);
      assert.equal(httpStatusToGrpc(401), status.UNAUTHENTICATED);
      assert.equal(httpStatusToGrpc(403), status.PERMISSION_DENIED);
      assert.equal(httpStatusToGrpc(404), status.UNIMPLEMENTED);
      for (const s of [429, 502, 503, 504]) assert.equal(httpStatusToGrpc(s), status.UNAVAILABLE);
      assert.equal(httpStatusToGrpc(415), status.UNKNOWN);
    });
    it("maps RST_STREAM codes", () => {
      assert.equal(rstCodeToGrpc(h2.NGHTTP2_CANCEL), status.CANCELLED);
      assert.equal(rstCodeToGrpc(h2.NGHTTP2_REFUSED_STREAM), status.UNAVAILABLE);
      assert.equal(rstCodeToGrpc(h2.NGHTTP2_ENHANCE_YOUR_CALM), status.RESOURCE_EXHAUSTED);
      assert.equal(rstCodeToGrpc(h2.NGHTTP2_INADEQUATE_SECURITY), status.PERMISSION_DENIED);
      assert.equal(rstCodeToGrpc(h2.NGHTTP2_PROTOCOL_ERROR), status.INTERNAL);
    });
    it("takes only valid grpc-status values", () => {
      assert.equal(parseGrpcStatus("5"), status.NOT_FOUND);
      assert.equal(parseGrpcStatus(["0"]), status.OK);
      for (const bad of ["17", "-1", "x", "1.5", undefined]) assert.equal(parseGrpcStatus(bad), status.UNKNOWN);
    });
  });

  describe("grpc-timeout", () => {
    it("formats with at most 8 digits and parses every unit", () => {
      assert.equal(formatTimeout(250), "250m");
      assert.equal(formatTimeout(0.2), "1m");
      assert.equal(formatTimeout(123_456_789), "123457S");
      assert.equal(formatTimeout(1e12), "16666667M");
      assert.equal(formatTimeout(1e14), "27777778H");
      assert.equal(parseTimeout("250m"), 250);
      assert.equal(parseTimeout("2S"), 2000);
      assert.equal(parseTimeout("1M"), 60_000);
      assert.equal(parseTimeout("1H"), 3_600_000);
      assert.equal(parseTimeout("5000u"), 5);
      assert.equal(parseTimeout("1000000n"), 1);
      for (const bad of ["", "123456789m", "10", "m", "1x", undefined]) assert.equal(parseTimeout(bad), undefined);
    });
  });

  describe("MessageDecoder", () => {
    const payloads = [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(70_000, 3), Buffer.from([0, 0, 0, 0, 5])];
    const wire = Buffer.concat(payloads.map(encodeMessage));

    it("returns every message for every way of cutting the stream in two and in bytes", () => {
      for (let cut = 0; cut <= wire.length; cut += cut < 40 ? 1 : 997) {
        const got: Buffer[] = [];
        const d = new MessageDecoder(-1);
        d.push(wire.subarray(0, cut), (m) => got.push(Buffer.from(m)));
        d.push(wire.subarray(cut), (m) => got.push(Buffer.from(m)));
        assert.deepEqual(got, payloads, `cut at ${cut}`);
        assert.ok(d.idle);
      }
      const got: Buffer[] = [];
      const d = new MessageDecoder(-1);
      for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1), (m) => got.push(Buffer.from(m)));
      assert.deepEqual(got, payloads);
    });

    it("is not idle in the middle of a message", () => {
      const d = new MessageDecoder(-1);
      d.push(encodeMessage(Buffer.from("abc")).subarray(0, 6), () => assert.fail("no message yet"));
      assert.equal(d.idle, false);
    });

    it("refuses a message over the limit from its header alone, and unknown flags; passes the compressed flag on", () => {
      const d = new MessageDecoder(10);
      const header = Buffer.from([0, 0, 0, 0, 11]);
      assert.equal(
        d.push(header, () => assert.fail("no message")),
        false,
      );
      assert.equal(d.failure, "too-large");
      assert.equal(d.failedLength, 11);
      const c = new MessageDecoder(-1);
      const seen: boolean[] = [];
      assert.equal(
        c.push(Buffer.from([1, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0]), (_m, compressed) => seen.push(compressed)),
        true,
      );
      assert.deepEqual(seen, [true, false]);
      assert.equal(
        c.push(Buffer.from([2, 0, 0, 0, 0]), () => assert.fail("no message")),
        false,
      );
      assert.equal(c.failure, "bad-flag");
    });
  });

  describe("inflate", () => {
    const text = Buffer.from("compress me ".repeat(100));
    it("inflates gzip and deflate", () => {
      assert.ok(text.equals(inflate(gzipSync(text), "gzip", -1, status.INTERNAL) as Buffer));
      assert.ok(text.equals(inflate(deflateSync(text), ["deflate"], 10_000, status.INTERNAL) as Buffer));
    });
    it("answers an unknown encoding, a corrupt payload and an oversize result with statuses", () => {
      assert.deepEqual(
        (inflate(text, "snappy", -1, status.UNIMPLEMENTED) as { code: status }).code,
        status.UNIMPLEMENTED,
      );
      assert.equal((inflate(text, "gzip", -1, status.INTERNAL) as { code: status }).code, status.INTERNAL);
      assert.equal(
        (inflate(gzipSync(text), "gzip", 100, status.INTERNAL) as { code: status }).code,
        status.RESOURCE_EXHAUSTED,
      );
    });
  });
});
