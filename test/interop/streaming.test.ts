/**
 * Server streaming with go-plugin's examples/streaming: its host and plugin,
 * built unmodified from the module, against podplug's TypeScript streamer
 * plugin (examples/streaming) and host SDK. The bench's streaming race
 * (bench/go-peers.ts) runs these same pairs.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { handshake, type StreamerClient, streamerPlugin } from "../../examples/streaming/shared.ts";
import { Client } from "../../src/host/index.ts";
import { tempDir } from "../helpers.ts";
import { explain, goPeer, goPeersDir, nodeCommand, runPeer } from "./peers.ts";

const LOREM = "Lorem ipsum dolor sit amet";

/** Reads the whole stream, keeping each message. */
async function readAll(s: StreamerClient): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  await s.read((c) => chunks.push(Buffer.from(c)));
  return chunks;
}

describe("interop: go-plugin's examples/streaming ↔ podplug (server streaming)", () => {
  let tmp: ReturnType<typeof tempDir>;
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });
  beforeEach(() => (tmp = tempDir("pst-")));
  afterEach(() => tmp.remove());

  it("go-plugin's example host writes and reads back through the TypeScript streamer plugin", async () => {
    // The Go host starts ./plugin/streamer from its working folder.
    mkdirSync(join(tmp.dir, "plugin"));
    const launcher = join(tmp.dir, "plugin", "streamer");
    writeFileSync(launcher, `#!/bin/sh\nexec ${nodeCommand("examples/streaming/plugin.ts")}\n`);
    chmodSync(launcher, 0o755);
    const file = join(tmp.dir, "myfile");
    const r = await runPeer("stream-host", [file], { cwd: tmp.dir });
    assert.equal(r.code, 0, explain(r));
    // It Wrote in 10-byte messages (a client stream) and Read back in 10-byte messages (a server stream).
    assert.equal(readFileSync(file, "utf8"), LOREM);
    const received = r.logs.find((l) => l["@message"] === `received ${LOREM.length} bytes`);
    assert.ok(received, explain(r));
    assert.equal(received.bytes, LOREM);
  });

  for (const plugin of ["go", "ts"] as const) {
    it(`podplug's host streams a file from the ${plugin === "go" ? "Go example" : "TypeScript"} plugin in chunk-size messages`, async () => {
      const client = new Client({
        handshake,
        plugins: { streamer: streamerPlugin() },
        cmd:
          plugin === "go"
            ? { command: goPeer("stream-plugin") }
            : { command: process.execPath, args: [join(import.meta.dirname, "../../examples/streaming/plugin.ts")] },
        logger: pino({ level: "silent" }),
      });
      try {
        const s = await client.dispense("streamer");
        const file = join(tmp.dir, "data");
        // 100,000 bytes in 1,000-byte messages over several HTTP/2 windows, then a short last one.
        const data = Buffer.from(Array.from({ length: 100_500 }, (_, i) => i % 251));
        await s.configure(file, 1000);
        await s.write(data);
        assert.deepEqual(readFileSync(file), data);
        const chunks = await readAll(s);
        assert.equal(chunks.length, 101);
        assert.ok(chunks.slice(0, 100).every((c) => c.length === 1000));
        assert.equal(chunks[100]!.length, 500);
        assert.deepEqual(Buffer.concat(chunks), data);
        // A missing file is the plugin's error, as the call's status.
        await s.configure(join(tmp.dir, "missing"), 1000);
        await assert.rejects(readAll(s), (err: Error & { code?: number }) => {
          assert.equal(err.code, 2);
          assert.match(err.message, /no such file or directory/);
          return true;
        });
      } finally {
        await client.kill();
      }
    });
  }
});
