/**
 * podplug's HTTP/2 engine's HPACK: RFC 7541's own examples (Appendix C.4, Huffman
 * with the dynamic table), size updates and eviction, and the encoder read
 * back by node:http2's decoder's rules (round trip through our decoder).
 */
import { strict as assert } from "node:assert";
import { encodeHeaders, HpackDecoder, HpackError } from "../../src/transport/h2/hpack.ts";
import { huffmanDecode } from "../../src/transport/h2/huffman.ts";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("transport HPACK", () => {
  it("decodes RFC 7541 C.4 (requests with Huffman coding) in sequence", () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")), {
      ":method": "GET",
      ":scheme": "http",
      ":path": "/",
      ":authority": "www.example.com",
    });
    assert.deepEqual(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf")), {
      ":method": "GET",
      ":scheme": "http",
      ":path": "/",
      ":authority": "www.example.com",
      "cache-control": "no-cache",
    });
    assert.deepEqual(d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")), {
      ":method": "GET",
      ":scheme": "https",
      ":path": "/index.html",
      ":authority": "www.example.com",
      "custom-key": "custom-value",
    });
  });

  it("evicts to a smaller table size and rejects indexes past the table", () => {
    const d = new HpackDecoder();
    d.decode(hex("4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")); // custom-key: custom-value, indexed as 62
    assert.deepEqual(d.decode(hex("be")), { "custom-key": "custom-value" });
    // A size update to 0 empties the dynamic table.
    assert.throws(() => d.decode(hex("20 be")), { name: "HpackError", code: "HPACK_INDEX_INVALID" });
    assert.throws(
      () => new HpackDecoder(4096).decode(hex("3fe21f")),
      { code: "HPACK_TABLE_SIZE" },
      "a size above our SETTINGS is refused",
    );
  });

  it("keeps repeated names as arrays and reads literal (never indexed) fields", () => {
    const d = new HpackDecoder();
    const block = Buffer.concat([
      encodeHeaders([
        ["x-a", "1"],
        ["x-a", "2"],
      ]),
      hex("10 03 782d62 01 33"),
    ]);
    assert.deepEqual(d.decode(block), { "x-a": ["1", "2"], "x-b": "3" });
  });

  it("round-trips what the encoder writes, long values included", () => {
    const long = "v".repeat(300);
    const headers: [string, string][] = [
      [":path", "/plugin.GRPCBroker/StartStream"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["grpc-timeout", "100m"],
      ["x-long", long],
    ];
    assert.deepEqual(new HpackDecoder().decode(encodeHeaders(headers)), Object.fromEntries(headers));
  });

  it("refuses truncated blocks and bad Huffman padding", () => {
    assert.throws(() => new HpackDecoder().decode(hex("41 8c f1e3")), HpackError);
    assert.throws(() => new HpackDecoder().decode(hex("41 8c f1e3")), { code: "HPACK_TRUNCATED" });
    assert.throws(() => new HpackDecoder().decode(hex("41 81 00")), { code: "HPACK_HUFFMAN_INVALID" });
    assert.throws(() => new HpackDecoder().decode(hex("7f ff ff ff ff ff 7f")), { code: "HPACK_INTEGER_OVERFLOW" });
    assert.throws(() => huffmanDecode(hex("00"), 0, 1), /padding/);
    assert.equal(huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), 0, 12), "www.example.com");
  });
});
