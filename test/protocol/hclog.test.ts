import assert from "node:assert/strict";
import { formatLine, formatTimestamp, parseLine } from "../../src/protocol/hclog.ts";

// hclog's layout: 2006-01-02T15:04:05.000000Z07:00
const GO_LAYOUT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

describe("hclog JSON lines", () => {
  it("formats timestamps with exactly six fractional digits", () => {
    assert.equal(formatTimestamp(Date.UTC(2026, 10, 23, 6, 55, 1, 123), 456), "2026-11-23T06:55:01.123456Z");
    assert.match(formatTimestamp(Date.now()), GO_LAYOUT);
  });

  it("writes string @level/@message/@timestamp that user fields cannot override", () => {
    const rec = JSON.parse(
      formatLine("warn", "m", { "@level": 5, "@message": {}, k: 1n, e: new Error("boom") }),
    ) as Record<string, unknown>;
    assert.equal(rec["@level"], "warn");
    assert.equal(rec["@message"], "m");
    assert.match(rec["@timestamp"] as string, GO_LAYOUT);
    assert.equal(rec._level, 5);
    assert.equal(rec.k, "1");
    assert.equal(rec.e, "boom");
  });

  it("survives circular fields by keeping the reserved keys", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    const rec = JSON.parse(formatLine("info", "m", { a })) as Record<string, unknown>;
    assert.deepEqual(Object.keys(rec).sort(), ["@level", "@message", "@timestamp"]);
  });

  it("parses hclog JSON, Go's [LEVEL] prefixes and panics as go-plugin's host does", () => {
    const s = { inPanic: false };
    const j = parseLine(
      '{"@level":"warn","@message":"hi","@timestamp":"2026-11-23T06:55:01.123456Z","@module":"kv","x":2}',
      s,
    );
    assert.deepEqual(
      [j.level, j.message, j.fields, j.timestamp, j.json],
      ["warn", "hi", { "@module": "kv", x: 2 }, "2026-11-23T06:55:01.123456Z", true],
    );
    assert.equal(parseLine("[ERROR] disk full", s).level, "error");
    assert.equal(parseLine("just text", s).level, "debug");
    assert.equal(parseLine("just text", s, "info").level, "info");
    assert.equal(parseLine("panic: nil map", s).level, "error");
    assert.equal(parseLine("goroutine 1 [running]:", s).level, "error", "lines after a panic stay errors");
  });

  it("never throws on junk that looks like JSON", () => {
    const s = { inPanic: false };
    for (const line of ["{", "{}", '{"@level":7,"@message":[1]}', "[1,2]", '{"@level":"loud"}']) {
      const p = parseLine(line, s);
      assert.ok(["trace", "debug", "info", "warn", "error"].includes(p.level));
      assert.equal(typeof p.message, "string");
    }
    assert.equal(parseLine('{"@level":"loud","@message":"m"}', s).level, "debug");
  });
});
