/**
 * Issue 4, case 4: AutoMTLS both ways — a Go host with AutoMTLS: true and a
 * TS plugin, a TS host with autoMTLS and a Go plugin — and a peer without
 * the right certificate is refused.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { handshake as counterHandshake, counterPlugin } from "../../examples/counter/shared.ts";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { HealthClient } from "../../src/gen/grpc/health/v1/health.ts";
import { Client } from "../../src/host/index.ts";
import { generateCertificate, handshakeFieldToCert } from "../../src/protocol/index.ts";
import { captureLogger, tempDir } from "../helpers.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, runPeer } from "./peers.ts";

/** A health Check on a plugin socket with the given credentials; resolves with the error, if any. */
function check(address: string, creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | null> {
  const c = new HealthClient(`unix://${address}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  return new Promise((res) => {
    c.check({ service: "plugin" }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => {
      c.close();
      res(err);
    });
  });
}

describe("interop: AutoMTLS both ways (case 4)", () => {
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
  });

  it("a Go host with AutoMTLS talks to a TS plugin, which refuses plaintext and foreign certificates", async () => {
    const r = await runPeer("gohost", [
      "-automtls",
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts"),
      "put",
      "k",
      "secret",
      "get",
      "k",
      "rogue-dial",
    ]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "get")[0]?.value, "secret");
    const rogue = eventsOf(r, "rogue-dial")[0];
    assert.ok(rogue, explain(r));
    assert.equal(rogue.plaintextRefused, true, `plaintext call succeeded: ${JSON.stringify(rogue)}`);
    assert.equal(rogue.wrongCertRefused, true, `call with a foreign certificate succeeded: ${JSON.stringify(rogue)}`);
  });

  it("without AutoMTLS the same Go host reaches the TS plugin in plaintext (the control for the test above)", async () => {
    const r = await runPeer("gohost", ["-cmd", nodeCommand("test/interop/fixtures/log-plugin.ts"), "rogue-dial"]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(eventsOf(r, "rogue-dial")[0]?.plaintextRefused, false, explain(r));
  });

  it("a TS host with autoMTLS talks to a Go plugin, which refuses plaintext and foreign certificates", async () => {
    const { logger } = captureLogger("info");
    const client = new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      cmd: { command: goPeer("goplugin") },
      autoMTLS: true,
      logger,
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("k", Buffer.from("secret"));
      assert.equal((await kv.get("k")).toString(), "secret");
      const info = await client.start();
      assert.ok(info.handshake.serverCert.length > 50, "the Go plugin announced its certificate");

      const plain = await check(info.handshake.address, grpc.credentials.createInsecure());
      assert.ok(plain, "the Go plugin answered a plaintext call");

      // Trust the plugin's real certificate, but present one it never saw.
      const serverPem = handshakeFieldToCert(info.handshake.serverCert);
      const stranger = await generateCertificate();
      const foreign = await check(
        info.handshake.address,
        grpc.credentials.createSsl(Buffer.from(serverPem), Buffer.from(stranger.keyPem), Buffer.from(stranger.certPem)),
      );
      assert.ok(foreign, "the Go plugin accepted a certificate the host never sent it");
      assert.equal(foreign.code, grpc.status.UNAVAILABLE);

      // The host's own connection is unaffected.
      assert.equal((await kv.get("k")).toString(), "secret");
    } finally {
      await client.kill();
    }
  });

  it("broker callbacks run over mutual TLS too: Go host ↔ TS counter plugin", async () => {
    const work = tempDir("pm-");
    try {
      const r = await runPeer(
        "gohost-counter",
        ["-automtls", "-cmd", nodeCommand("examples/counter/plugin.ts"), "put", "c", "7", "get", "c"],
        { cwd: work.dir },
      );
      assert.equal(r.code, 0, explain(r));
      assert.deepEqual(
        eventsOf(r, "callback").map((e) => [e.a, e.b]),
        [[0, 7]],
      );
      assert.equal(eventsOf(r, "get")[0]?.value, 7);
    } finally {
      work.remove();
    }
  });

  it("broker callbacks run over mutual TLS too: TS host ↔ go-plugin's bidirectional plugin", async () => {
    const work = tempDir("pm-");
    const { logger } = captureLogger("info");
    const client = new Client({
      handshake: counterHandshake,
      plugins: { counter: counterPlugin() },
      cmd: { command: goPeer("bidir-plugin"), cwd: work.dir },
      autoMTLS: true,
      logger,
    });
    try {
      const counter = await client.dispense("counter");
      const calls: bigint[][] = [];
      await counter.put("c", 7n, {
        sum: async (a, b) => {
          calls.push([a, b]);
          return a + b;
        },
      });
      assert.equal(await counter.get("c"), 7n);
      assert.deepEqual(calls, [[0n, 7n]]);
    } finally {
      await client.kill();
      work.remove();
    }
  });
});
