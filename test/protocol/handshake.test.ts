import assert from "node:assert/strict";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { isPodplugError } from "../../src/errors.ts";
import { Client } from "../../src/host/index.ts";
import { formatHandshake, type Handshake, MAX_HANDSHAKE_LINE, parseHandshake } from "../../src/protocol/handshake.ts";
import { captureLogger, NODE } from "../helpers.ts";

const ok = { versions: [1, 2] };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isPodplugError(err), `not a PodplugError: ${String(err)}`);
    return err.code;
  }
  assert.fail("expected an error");
}

describe("handshake line", () => {
  it("formats exactly as go-plugin prints it, cert field empty without mTLS", () => {
    const h: Handshake = {
      core: 1,
      appVersion: 5,
      network: "unix",
      address: "/tmp/plugin123",
      protocol: "grpc",
      serverCert: "",
    };
    assert.equal(formatHandshake(h), "1|5|unix|/tmp/plugin123|grpc|");
    assert.equal(formatHandshake({ ...h, multiplex: false }), "1|5|unix|/tmp/plugin123|grpc||false");
  });

  it("round-trips and tolerates surrounding whitespace and CRLF", () => {
    const h = parseHandshake("  1|2|unix|/tmp/p|grpc|\r\n", ok);
    assert.deepEqual(h, {
      core: 1,
      appVersion: 2,
      network: "unix",
      address: "/tmp/p",
      protocol: "grpc",
      serverCert: "",
    });
  });

  it("ignores a short sixth field, as go-plugin does below 51 characters", () => {
    assert.equal(parseHandshake("1|1|unix|/tmp/p|grpc|junk", ok).serverCert, "");
  });

  it("keeps a certificate field over 50 characters", () => {
    const cert = "A".repeat(64);
    assert.equal(parseHandshake(`1|1|unix|/tmp/p|grpc|${cert}`, ok).serverCert, cert);
  });

  const bad: [string, string, Partial<Parameters<typeof parseHandshake>[1]>?][] = [
    ["", "HANDSHAKE_MALFORMED"],
    ["hello world", "HANDSHAKE_MALFORMED"],
    ["1|1|unix", "HANDSHAKE_MALFORMED"],
    ["x|1|unix|/tmp/p|grpc|", "HANDSHAKE_MALFORMED"],
    ["2|1|unix|/tmp/p|grpc|", "HANDSHAKE_CORE_VERSION"],
    ["1|one|unix|/tmp/p|grpc|", "HANDSHAKE_MALFORMED"],
    ["1|9|unix|/tmp/p|grpc|", "HANDSHAKE_APP_VERSION"],
    ["1|1|udp|/tmp/p|grpc|", "HANDSHAKE_NETWORK"],
    ["1|1|tcp|127.0.0.1:1234|grpc|", "HANDSHAKE_NETWORK", { networks: ["unix"] }],
    ["1|1|unix||grpc|", "HANDSHAKE_MALFORMED"],
    ["1|1|unix|/tmp/p|netrpc|", "HANDSHAKE_PROTOCOL"],
    ["1|1|unix|/tmp/p", "HANDSHAKE_PROTOCOL"], // no protocol field means netrpc
    [`1|1|unix|/tmp/p|grpc|${"!".repeat(60)}`, "HANDSHAKE_CERT"],
    ["1|1|unix|/tmp/p|grpc|", "MULTIPLEX_UNSUPPORTED", { multiplex: true }],
    ["1|1|unix|/tmp/p|grpc||false", "MULTIPLEX_UNSUPPORTED", { multiplex: true }],
    ["1|1|unix|/tmp/p|grpc||maybe", "HANDSHAKE_MALFORMED", { multiplex: true }],
  ];
  for (const [line, want, extra] of bad) {
    it(`refuses ${JSON.stringify(line)} with ${want}`, () => {
      assert.equal(
        code(() => parseHandshake(line, { ...ok, ...extra })),
        want,
      );
    });
  }

  it("names the source and the offered versions in a version error", () => {
    assert.throws(
      () => parseHandshake("1|9|unix|/tmp/p|grpc|", { versions: [1, 2], source: "plugin kv" }),
      /^PodplugError: Incompatible API version with plugin kv\. Plugin version: 9, Client versions: \[1 2\]\. Upgrade/,
    );
  });

  it("error messages read as sentences, naming the plugin or the file once (never 'plugin from plugin')", () => {
    const messages = (source: string | undefined): string[] =>
      [
        "x",
        "2|1|unix|/p|grpc|",
        "1|x|unix|/p|grpc|",
        "1|1|udp|/p|grpc|",
        "1|1|tcp|/p|grpc|",
        "1|1|unix||grpc|",
        "1|1|unix|/p|netrpc|",
      ].map((line) => {
        try {
          parseHandshake(line, { versions: [1], networks: ["unix"], ...(source ? { source } : {}) });
        } catch (err) {
          return (err as Error).message;
        }
        return "accepted";
      });
    for (const [source, name] of [
      ["plugin kv", "plugin kv"],
      ["/run/p/kv/handshake", "the plugin announced in /run/p/kv/handshake"],
      [undefined, "the plugin"],
    ] as const) {
      for (const m of messages(source)) {
        assert.match(m, /^[A-Z]/, `starts as a sentence: ${m}`);
        assert.ok(m.toLowerCase().includes(name.toLowerCase()), `names ${name}: ${m}`);
        assert.doesNotMatch(m, /plugin from plugin|plugin plugin|with plugin from/, m);
      }
    }
  });

  it("accepts multiplex `true` when the host asked for it", () => {
    assert.equal(parseHandshake("1|1|unix|/tmp/p|grpc||true", { ...ok, multiplex: true }).multiplex, true);
  });

  it("refuses a line over MAX_HANDSHAKE_LINE, even one that starts like a handshake", () => {
    const long = `1|1|unix|/tmp/p|grpc|${"A".repeat(MAX_HANDSHAKE_LINE)}`;
    assert.equal(
      code(() => parseHandshake(long, ok)),
      "HANDSHAKE_MALFORMED",
    );
    assert.throws(() => parseHandshake(long, ok), /longer than 16384 characters/);
  });
});

describe("handshake line from a real plugin process", function () {
  this.timeout(60_000);

  it("a plugin printing an endless first line (64 MiB, no newline) fails HANDSHAKE_MALFORMED, the host bounded", async () => {
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: {
        command: NODE,
        args: [
          "-e",
          'const b = Buffer.alloc(1 << 20, 65); let n = 0; const w = () => { while (n < 64 && process.stdout.write(b)) n++; if (n++ < 64) process.stdout.once("drain", w); else setTimeout(() => undefined, 30_000); }; w();',
        ],
      },
      name: "endless",
      logger: captureLogger().logger,
      startTimeoutMs: 30_000,
    });
    const before = process.memoryUsage.rss();
    try {
      await assert.rejects(client.dispense("kv"), (e: unknown) => {
        assert.ok(isPodplugError(e, "HANDSHAKE_MALFORMED"), String(e));
        assert.match((e as Error).message, /longer than 16384 characters/);
        return true;
      });
      assert.ok(process.memoryUsage.rss() - before < 64 * 1024 * 1024, "the host did not hold the line");
    } finally {
      await client.kill();
    }
  });
});
