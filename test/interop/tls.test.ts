/**
 * Issue 11: explicit TLS (go-plugin's `ClientConfig.TLSConfig` on the host,
 * `ServeConfig.TLSProvider` on the plugin) against podplug's `tls` options
 * (the host's `tls: { certPem, keyPem, caPem }`, the plugin's
 * `serve({ tls })`), both directions, with real go-plugin peers
 * (test/go/cmd/tlspeer). Nothing goes in the handshake: each side was given
 * the other's CA. Bad input: a CA that did not sign the peer's certificate,
 * a client certificate the plugin does not trust, and a TLS provider that
 * fails; each ends in a coded error, the plugin process gone.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { pino } from "pino";
import { handshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client, isPodplugError } from "../../src/host/index.ts";
import type { CertificatePair } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { eventsOf, explain, goPeer, goPeersDir, nodeCommand, type PeerResult, runPeer, startPlugin } from "./peers.ts";

const quiet = pino({ level: "silent" });

/** Processes whose command line holds `marker` (a plugin left running would). */
function running(marker: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(marker)) pids.push(Number(e));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Waits up to 5 s for no process to hold `marker` (a killed plugin needs a moment to be reaped). */
async function noneRunning(marker: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (running(marker).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(running(marker), [], `nothing left running with ${marker}`);
}

/** The plugin side's PEMs, as test/interop/fixtures/log-plugin.ts and tlspeer read them. */
const pluginTls = (own: CertificatePair, clientCa: string) => ({
  FIXTURE_TLS_CERT: own.certPem,
  FIXTURE_TLS_KEY: own.keyPem,
  FIXTURE_TLS_CA: clientCa,
});

/** tlspeer's host side: its certificate and the CA it verifies the plugin with. */
const hostTls = (own: CertificatePair, serverCa: string) => ({
  TLSHOST_CERT: own.certPem,
  TLSHOST_KEY: own.keyPem,
  TLSHOST_CA: serverCa,
});

/** The Go host (TLSConfig) with the TS plugin (serve({ tls })), put then get. */
function goHostTsPlugin(env: Record<string, string>, marker: string): Promise<PeerResult> {
  return runPeer(
    "tlspeer",
    [
      "host",
      "-start-timeout",
      "30s",
      "-cmd",
      nodeCommand("test/interop/fixtures/log-plugin.ts", "1", marker),
      "put",
      "k",
      "over-tls",
      "get",
      "k",
    ],
    { env },
  );
}

describe("interop: explicit TLS (TLSConfig / TLSProvider)", () => {
  let host: CertificatePair;
  let plugin: CertificatePair;
  let stranger: CertificatePair;

  before(async function () {
    this.timeout(15 * 60_000);
    goPeersDir();
    [host, plugin, stranger] = await Promise.all([generateCertificate(), generateCertificate(), generateCertificate()]);
  });

  describe("a Go host with ClientConfig.TLSConfig, a TS plugin with serve({ tls })", () => {
    it("tls-go-host-ts-plugin: the calls run over mutual TLS", async () => {
      const marker = `tls-${randomUUID()}`;
      const r = await goHostTsPlugin({ ...hostTls(host, plugin.certPem), ...pluginTls(plugin, host.certPem) }, marker);
      assert.equal(r.code, 0, explain(r));
      assert.deepEqual(eventsOf(r, "get")[0], { event: "get", key: "k", value: "over-tls" });
      await noneRunning(marker);
    });

    // go-plugin's Ping after the handshake fails either way: grpc-go refuses a certificate its CA did not sign;
    // a refused client sees its side of the TLS 1.3 handshake complete, then the plugin drop the connection.
    for (const [name, what, tls, reason] of [
      [
        "tls-go-host-bad-ca",
        "a Go host whose TLSConfig trusts another CA refuses the TS plugin's certificate",
        () => ({ host, ca: stranger }),
        /x509: certificate signed by unknown authority/,
      ],
      [
        "tls-go-host-untrusted",
        "a TS plugin refuses a Go host whose certificate its CA did not sign",
        () => ({ host: stranger, ca: plugin }),
        /code = Unavailable/,
      ],
    ] as const) {
      it(`${name}: ${what}; the Go host exits 1 and the plugin is gone`, async () => {
        const marker = `tls-${randomUUID()}`;
        const t = tls();
        const r = await goHostTsPlugin(
          { ...hostTls(t.host, t.ca.certPem), ...pluginTls(plugin, host.certPem) },
          marker,
        );
        assert.equal(r.code, 1, explain(r));
        const [err] = eventsOf(r, "error");
        assert.ok(err, explain(r));
        assert.equal(err.op, "ping");
        assert.match(String(err.error), reason, explain(r));
        assert.deepEqual(eventsOf(r, "get"), []);
        await noneRunning(marker);
      });
    }
  });

  describe("the TS host with tls, a Go plugin with ServeConfig.TLSProvider", () => {
    const goTlsPlugin = (env: Record<string, string>, marker: string) => ({
      command: goPeer("tlspeer"),
      args: ["plugin", "-marker", marker],
      env,
    });

    it("tls-ts-host-go-plugin: the calls run over mutual TLS; the handshake carries no certificate", async () => {
      const marker = `tls-${randomUUID()}`;
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: goTlsPlugin(pluginTls(plugin, host.certPem), marker),
        tls: { certPem: host.certPem, keyPem: host.keyPem, caPem: plugin.certPem },
        logger: quiet,
      });
      try {
        const info = await client.start();
        assert.equal(info.handshake.serverCert, "");
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("over-tls"));
        assert.equal((await kv.get("k")).toString(), "over-tls");
        await client.ping();
      } finally {
        await client.kill();
      }
      await noneRunning(marker);
    });

    for (const [name, what, tls] of [
      ["tls-ts-host-bad-ca", "a CA that did not sign the Go plugin's certificate", () => ({ host, ca: stranger })],
      [
        "tls-ts-host-untrusted",
        "a certificate the Go plugin's CA did not sign",
        () => ({ host: stranger, ca: plugin }),
      ],
    ] as const) {
      it(`${name}: the TS host with ${what} cannot connect: a coded error, the Go plugin killed`, async () => {
        const marker = `tls-${randomUUID()}`;
        const t = tls();
        const client = new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          cmd: goTlsPlugin(pluginTls(plugin, host.certPem), marker),
          tls: { certPem: t.host.certPem, keyPem: t.host.keyPem, caPem: t.ca.certPem },
          startTimeoutMs: 4000,
          restart: false,
          logger: quiet,
        });
        try {
          await assert.rejects(
            client.dispense("kv").then((kv) => kv.get("k")),
            (err: unknown) =>
              isPodplugError(err, "UNAVAILABLE") &&
              /within \d+ ms: .*The connection is mutual TLS: check that the plugin trusts this host's certificate/.test(
                err.message,
              ),
          );
        } finally {
          await client.kill();
        }
        await noneRunning(marker);
      });
    }

    it("tls-ts-host-attach: the TS host with tls attaches to a Go TLSProvider plugin it did not start (sidecar mode), as go-plugin's Reattach does; without tls it cannot", async () => {
      const marker = `tls-${randomUUID()}`;
      const sidecar = startPlugin(goPeer("tlspeer"), ["plugin", "-marker", marker], {
        BASIC_PLUGIN: "hello",
        PLUGIN_PROTOCOL_VERSIONS: "1",
        ...pluginTls(plugin, host.certPem),
      });
      try {
        const line = await sidecar.line;
        // go-plugin writes no handshake file: the host is told the version, and the line has no certificate.
        assert.equal(line.split("|")[5], "", line);
        const attach = { dir: dirname(line.split("|")[3] ?? ""), protocolVersion: 1 };
        const good = new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          attach,
          tls: { certPem: host.certPem, keyPem: host.keyPem, caPem: plugin.certPem },
          logger: quiet,
        });
        try {
          const kv = await good.dispense("kv");
          await kv.put("k", Buffer.from("attached-over-tls"));
          assert.equal((await kv.get("k")).toString(), "attached-over-tls");
        } finally {
          await good.kill();
        }
        const plain = new Client({
          handshake,
          plugins: { kv: kvPlugin() },
          attach,
          startTimeoutMs: 4000,
          restart: false,
          logger: quiet,
        });
        try {
          await assert.rejects(
            plain.dispense("kv").then((kv) => kv.get("k")),
            (err: unknown) => isPodplugError(err, "UNAVAILABLE"),
          );
        } finally {
          await plain.kill();
        }
        assert.deepEqual(running(marker), [sidecar.pid], "an attached host's kill() leaves the sidecar running");
      } finally {
        await sidecar.stop();
      }
      await noneRunning(marker);
    });

    it("tls-go-provider-fails: a TLSProvider that cannot build its config ends the Go plugin before its handshake; the TS host says so", async () => {
      const marker = `tls-${randomUUID()}`;
      const client = new Client({
        handshake,
        plugins: { kv: kvPlugin() },
        cmd: goTlsPlugin({ ...pluginTls(plugin, host.certPem), FIXTURE_TLS_CA: "not a PEM" }, marker),
        tls: { certPem: host.certPem, keyPem: host.keyPem, caPem: plugin.certPem },
        startTimeoutMs: 8000,
        restart: false,
        logger: quiet,
      });
      try {
        await assert.rejects(client.start(), (err: unknown) => {
          // go-plugin's Serve logs the provider's error and returns: the process exits 0 with no handshake.
          assert.ok(isPodplugError(err, "PLUGIN_EXITED"), String(err));
          assert.match(err.message, /plugin tls init|FIXTURE_TLS_CA holds no PEM certificate/);
          return true;
        });
      } finally {
        await client.kill();
      }
      await noneRunning(marker);
    });
  });
});
