/**
 * podplug-launcher (sdk/launcher, docs/launcher.md) with real processes:
 * go-plugin's unmodified examples/grpc plugin in sidecar mode, announced to
 * the TS host through the handshake file with its exact negotiated version
 * and AutoMTLS; `probe` for healthy, hung and dead plugins; hostile output.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { handshake as kvHandshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import type { CertificatePair } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { alive, NODE, tempDir, waitFor } from "../helpers.ts";
import { goPeer, goPeersDir } from "../interop/peers.ts";
import { launcherPath } from "./launcher.ts";

interface Launched {
  p: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function launch(argv: string[], env: Record<string, string>, cwd?: string): Launched {
  const p = spawn(launcherPath(), argv, {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(cwd ? { cwd } : {}),
  });
  let out = "";
  let err = "";
  p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => p.once("close", (code) => r(code)));
  return { p, stdout: () => out, stderr: () => err, exit };
}

/** A Node one-liner as a plugin command. */
const script = (js: string): string[] => [NODE, "-e", js];

/** `podplug-launcher run -- ARGV`, as the injection runs a plugin. */
function launchRun(argv: string[], env: Record<string, string>, cwd?: string): Launched {
  return launch(["run", "--", ...argv], env, cwd);
}

/** The launcher's child (the plugin) pid; throws when it has none (never 0: kill(0) is the whole group). */
function childOf(pid: number): number {
  // Go forks from whichever thread runs the goroutine: look under every task.
  const all = readdirSync(`/proc/${pid}/task`).map((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8"),
  );
  const child = Number(all.join(" ").trim().split(/\s+/)[0]);
  if (!Number.isInteger(child) || child <= 0) throw new Error(`process ${pid} has no child`);
  return child;
}

/** Runs `podplug-launcher probe` with `env`; exit status and output. */
function probe(env: Record<string, string>, timeout = "800ms"): { status: number | null; out: string } {
  const r = spawnSync(launcherPath(), ["probe", `-timeout=${timeout}`], { env, encoding: "utf8", timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("podplug-launcher", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let socks: string;
  let work: string;
  const running: Launched[] = [];
  before(function () {
    this.timeout(15 * 60_000);
    goPeersDir();
    launcherPath();
  });
  beforeEach(() => {
    t = tempDir("pl-");
    socks = join(t.dir, "kv");
    work = join(t.dir, "work");
    mkdirSync(socks);
    mkdirSync(work);
  });
  afterEach(async () => {
    for (const l of running.splice(0)) {
      if (l.p.exitCode === null && l.p.signalCode === null) {
        try {
          process.kill(childOf(l.p.pid!), "SIGKILL"); // it holds the launcher's stderr open
        } catch {
          // no child
        }
        l.p.kill("SIGKILL");
      }
      await l.exit;
    }
    t.remove();
  });

  const handshakeFile = (): string => join(socks, "handshake");
  const sidecarEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
    BASIC_PLUGIN: "hello",
    PLUGIN_PROTOCOL_VERSIONS: "1,2",
    PLUGIN_UNIX_SOCKET_DIR: socks,
    PODPLUG_HANDSHAKE_FILE: handshakeFile(),
    PODPLUG_PLUGIN_NAME: "kv",
    ...extra,
  });
  const goPlugin = (extra: Record<string, string> = {}): Launched => {
    const l = launchRun([goPeer("grpc-plugin")], sidecarEnv(extra), work);
    running.push(l);
    return l;
  };
  const host = (hostCertificate?: CertificatePair): Client<{ kv: ReturnType<typeof kvPlugin> }> =>
    new Client({
      handshake: kvHandshake,
      versionedPlugins: { 1: { kv: kvPlugin() }, 2: { kv: kvPlugin() } },
      attach: { dir: socks },
      logger: pino({ level: "silent" }),
      ...(hostCertificate ? { hostCertificate } : {}),
    });

  describe("running go-plugin's unmodified examples/grpc plugin", () => {
    it("announces its first stdout line in the handshake file: the host attaches at the negotiated version 1, not its highest 2", async () => {
      goPlugin();
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      assert.match(
        readFileSync(handshakeFile(), "utf8"),
        new RegExp(`^1\\|1\\|unix\\|${socks}/plugin\\d+\\|grpc\\|\\n$`),
      );
      const client = host();
      try {
        const info = await client.start();
        assert.equal(info.version, 1, "the plugin's version, from its own line");
        const kv = await client.dispense("kv");
        await kv.put("k", Buffer.from("via launcher"));
        assert.equal((await kv.get("k")).toString(), "via launcher\n\nWritten from plugin-go-grpc");
      } finally {
        await client.kill();
      }
    });

    it("with AutoMTLS: the plugin's certificate reaches the host through the file, and calls run over mutual TLS", async () => {
      const own = await generateCertificate();
      goPlugin({ PLUGIN_CLIENT_CERT: own.certPem });
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const line = readFileSync(handshakeFile(), "utf8").trim();
      assert.ok((line.split("|")[5] ?? "").length > 100, `a certificate in the sixth field: ${line}`);
      const client = host(own);
      try {
        const kv = await client.dispense("kv");
        await kv.put("tls", Buffer.from("yes"));
        assert.equal((await kv.get("tls")).toString(), "yes\n\nWritten from plugin-go-grpc");
      } finally {
        await client.kill();
      }
      const noCert = host();
      await assert.rejects(noCert.start(), { code: "HANDSHAKE_CERT" });
      await noCert.kill();
    });

    it("forwards SIGTERM to the plugin and exits with its status; removes the handshake file", async () => {
      const l = goPlugin();
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const child = childOf(l.p.pid!);
      l.p.kill("SIGTERM");
      const code = await l.exit;
      assert.equal(code, 128 + 15, "go-plugin's server dies of SIGTERM; the launcher says so as a shell would");
      assert.equal(alive(child), false);
      assert.equal(existsSync(handshakeFile()), false);
    });
  });

  describe("reload (PODPLUG_RELOAD_FILE: the Pod annotation podplug.io/reload-<plugin>, by the downward API)", () => {
    it("stops the plugin and exits 0 once the file's content changes; the same content or an empty file does not", async () => {
      const file = join(t.dir, "reload-kv");
      writeFileSync(file, "t0");
      const l = goPlugin({ PODPLUG_RELOAD_FILE: file });
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const child = childOf(l.p.pid!);
      // The kubelet rewrites the file with the same value on other Pod changes, and "" when the annotation goes.
      writeFileSync(file, "t0\n");
      await new Promise((r) => setTimeout(r, 1200));
      writeFileSync(file, "");
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(alive(child), true, "same token, then none: still serving");
      writeFileSync(file, "t1");
      assert.equal(await l.exit, 0, "asked for: the container ends Completed and the kubelet starts it again");
      assert.equal(alive(child), false);
      assert.match(l.stderr(), /reload "t1" asked .*\[LAUNCHER_RELOAD\]/);
      assert.equal(existsSync(handshakeFile()), false, "the new process announces itself");
    });

    it("a file missing at start (no annotation yet) reloads when a token appears", async () => {
      const file = join(t.dir, "reload-new");
      const l = goPlugin({ PODPLUG_RELOAD_FILE: file });
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      writeFileSync(file, "first");
      assert.equal(await l.exit, 0);
      assert.match(l.stderr(), /LAUNCHER_RELOAD/);
    });
  });

  describe("a hung plugin on SIGTERM (the kubelet's liveness kill)", () => {
    it("a SIGSTOPped plugin is SIGKILLed at once, not left to the kubelet's grace: exit 137, LAUNCHER_HUNG_KILLED", async () => {
      const l = goPlugin();
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const child = childOf(l.p.pid!);
      process.kill(child, "SIGSTOP");
      l.p.kill("SIGTERM");
      assert.equal(await l.exit, 128 + 9, "the plugin died of SIGKILL, sent by the launcher itself");
      assert.equal(alive(child), false);
      assert.match(
        l.stderr(),
        new RegExp(`the plugin \\(pid ${child}\\) does not answer .* \\[LAUNCHER_HUNG_KILLED\\]`),
      );
    });

    it("a plugin that runs but never answers (and ignores SIGTERM) is killed; a healthy one gets SIGTERM (above)", async () => {
      const sock = join(socks, "plugin1");
      const l = launchRun(
        script(
          `require("node:net").createServer(() => {}).listen(${JSON.stringify(sock)}, () => console.log("1|1|unix|${sock}|grpc|")); process.on("SIGTERM", () => {});`,
        ),
        sidecarEnv(),
      );
      running.push(l);
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      l.p.kill("SIGTERM");
      assert.equal(await l.exit, 128 + 9);
      assert.match(l.stderr(), /does not answer a health check within 500ms: it is hung .*\[LAUNCHER_HUNG_KILLED\]/);
    });
  });

  describe("probe", () => {
    it("exits 0 for a healthy plugin, 3 with the reason when it is hung (SIGSTOP), 1 when it is dead", async () => {
      const l = goPlugin();
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const env = sidecarEnv();
      assert.deepEqual(probe(env), { status: 0, out: "SERVING\n" });
      const child = childOf(l.p.pid!);
      process.kill(child, "SIGSTOP");
      const hung = probe(env, "500ms");
      assert.equal(hung.status, 3, `no answer in time is exit 3 (hung), not 1: ${hung.out}`);
      assert.match(hung.out, /health check over .* failed within 500ms: .*DeadlineExceeded.*\[LAUNCHER_PROBE_FAILED\]/);
      process.kill(child, "SIGCONT");
      assert.equal(probe(env).status, 0, "healthy again once it runs");
      // Dead, with its handshake file left behind (SIGKILL of the whole container).
      const line = readFileSync(handshakeFile(), "utf8");
      l.p.kill("SIGKILL");
      process.kill(child, "SIGKILL");
      await l.exit;
      writeFileSync(handshakeFile(), line);
      const dead = probe(env);
      assert.equal(dead.status, 1, dead.out);
      assert.match(dead.out, /Unavailable|connection refused|no such file/);
    });

    it("exits 1 without a handshake file, or with a malformed one", () => {
      const env = sidecarEnv();
      const none = probe(env);
      assert.equal(none.status, 1);
      assert.match(none.out, /no handshake file .*\[LAUNCHER_PROBE_FAILED\]/);
      writeFileSync(handshakeFile(), "garbage\n");
      const bad = probe(env);
      assert.equal(bad.status, 1);
      assert.match(bad.out, /not a go-plugin handshake line/);
      assert.equal(probe({}).status, 1, "without PODPLUG_HANDSHAKE_FILE");
    });

    it("with AutoMTLS: presents the mounted host certificate and exits 0; without it, exits 1 saying what is missing", async () => {
      const own = await generateCertificate();
      goPlugin({ PLUGIN_CLIENT_CERT: own.certPem });
      await waitFor(() => existsSync(handshakeFile()), 20_000, "the handshake file");
      const mtls = join(t.dir, "mtls");
      mkdirSync(join(mtls, "kv"), { recursive: true });
      writeFileSync(join(mtls, "kv", "tls.crt"), own.certPem);
      writeFileSync(join(mtls, "kv", "tls.key"), own.keyPem);
      assert.deepEqual(probe(sidecarEnv({ PODPLUG_MTLS_ROOT: mtls })), { status: 0, out: "SERVING\n" });
      const missing = probe(sidecarEnv());
      assert.equal(missing.status, 1);
      assert.match(missing.out, /serves AutoMTLS but PODPLUG_MTLS_ROOT/);
      const other = await generateCertificate();
      writeFileSync(join(mtls, "kv", "tls.crt"), other.certPem);
      writeFileSync(join(mtls, "kv", "tls.key"), other.keyPem);
      assert.equal(probe(sidecarEnv({ PODPLUG_MTLS_ROOT: mtls })).status, 1, "a certificate the plugin was not given");
    });
  });

  describe("the Plugin's protocol versions (PLUGIN_PROTOCOL_VERSIONS)", () => {
    it("a plugin serving a version its Plugin does not allow is stopped before it is announced: exit 1, a one-line termination message", async () => {
      const term = join(t.dir, "termination-log");
      const l = launchRun(
        [goPeer("grpc-plugin")],
        sidecarEnv({ PLUGIN_PROTOCOL_VERSIONS: "2,3", PODPLUG_TERMINATION_LOG: term }),
        work,
      );
      running.push(l);
      assert.equal(await l.exit, 1);
      assert.equal(existsSync(handshakeFile()), false, "no host attaches at a version it was not offered");
      const message = readFileSync(term, "utf8");
      assert.match(
        message,
        /^LAUNCHER_PROTOCOL_VERSION: plugin kv serves protocol version 1; its Plugin allows 2, 3\. .*spec\.handshake\.protocolVersions/,
      );
      assert.equal(message.split("\n").filter(Boolean).length, 1, "one line");
      assert.ok(Buffer.byteLength(message) <= 4096);
      assert.match(l.stderr(), /\[LAUNCHER_PROTOCOL_VERSION\]/);
    });

    it("an allowed version is announced as the plugin negotiated it", async () => {
      const l = launchRun([goPeer("grpc-plugin")], sidecarEnv({ PLUGIN_PROTOCOL_VERSIONS: "1" }), work);
      running.push(l);
      await waitFor(() => existsSync(handshakeFile()), 10_000, "the handshake file");
      assert.match(readFileSync(handshakeFile(), "utf8"), /^1\|1\|unix\|/);
    });

    it("a PLUGIN_PROTOCOL_VERSIONS that is not a list of versions stops the plugin with LAUNCHER_BAD_CONFIG", async () => {
      const term = join(t.dir, "termination-log");
      const l = launchRun(
        script(`console.log('1|1|unix|${socks}/plugin1|grpc|'); setInterval(() => {}, 1000)`),
        sidecarEnv({ PLUGIN_PROTOCOL_VERSIONS: "1,two", PODPLUG_TERMINATION_LOG: term }),
      );
      running.push(l);
      assert.equal(await l.exit, 1);
      assert.match(
        readFileSync(term, "utf8"),
        /^LAUNCHER_BAD_CONFIG: PLUGIN_PROTOCOL_VERSIONS="1,two": "two" is not a positive protocol version/,
      );
      assert.equal(existsSync(handshakeFile()), false);
    });
  });

  describe("probe of a plugin the launcher does not run (a Plugin without a command)", () => {
    it("finds the bare Go plugin's socket as a host does and checks it; never writes the termination message", async () => {
      const term = join(t.dir, "termination-log");
      const env = sidecarEnv();
      delete env.PODPLUG_HANDSHAKE_FILE;
      const bare = spawn(goPeer("grpc-plugin"), [], {
        env: { ...env, PATH: process.env.PATH ?? "" },
        cwd: work,
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        await new Promise((r) => bare.stdout!.once("data", r));
        const r = probe({ ...sidecarEnv(), PODPLUG_TERMINATION_LOG: term });
        assert.equal(r.status, 0, r.out);
        assert.equal(existsSync(handshakeFile()), false);
        bare.kill("SIGKILL");
        await new Promise((r) => bare.once("close", r));
        const dead = probe({ ...sidecarEnv(), PODPLUG_TERMINATION_LOG: term });
        assert.equal(dead.status, 1);
        assert.match(
          dead.out,
          /no handshake file .* and no live plugin\* socket in .* \(1 stale\).*\[LAUNCHER_PROBE_FAILED\]/,
        );
        assert.equal(
          existsSync(term),
          false,
          "a probe runs beside the plugin: the termination message is the plugin's",
        );
      } finally {
        bare.kill("SIGKILL");
      }
    });
  });

  describe("hostile plugins", () => {
    it("a malformed first line: stops the plugin, exits 1, writes no handshake file", async () => {
      const l = launchRun(script("console.log('hello from a plugin'); setInterval(() => {}, 1000)"), sidecarEnv());
      running.push(l);
      assert.equal(await l.exit, 1);
      assert.match(l.stderr(), /first stdout line: not a go-plugin handshake line .*\[LAUNCHER_BAD_HANDSHAKE\]/);
      assert.match(l.stdout(), /hello from a plugin/, "the line still reaches the container log");
      assert.equal(existsSync(handshakeFile()), false);
    });

    it("an endless first line: gives up after 64 KiB, stops the plugin, exits 1", async () => {
      const l = launchRun(
        script("process.stdout.write('x'.repeat(200000)); setInterval(() => {}, 1000)"),
        sidecarEnv(),
      );
      running.push(l);
      assert.equal(await l.exit, 1);
      assert.match(l.stderr(), /longer than 65536 bytes.*\[LAUNCHER_BAD_HANDSHAKE\]/);
      assert.equal(existsSync(handshakeFile()), false);
    });

    it("no line at all: exits with the plugin's status", async () => {
      const l = launchRun(script("process.stderr.write('boom\\n'); process.exit(3)"), sidecarEnv());
      running.push(l);
      assert.equal(await l.exit, 3);
      assert.match(l.stderr(), /boom/, "stderr passes through");
      assert.match(
        l.stderr(),
        /closed its stdout before writing a handshake line \(exit status 3\) \[LAUNCHER_NO_HANDSHAKE\]/,
      );
      assert.equal(existsSync(handshakeFile()), false);
    });

    it("passes the rest of stdout through and exits with the plugin's status", async () => {
      const l = launchRun(
        script(
          `console.log('1|1|unix|${socks}/plugin1|grpc|'); console.log('after'); setTimeout(() => process.exit(5), 300)`,
        ),
        sidecarEnv(),
      );
      running.push(l);
      await waitFor(() => existsSync(handshakeFile()), 10_000, "the handshake file");
      assert.equal(readFileSync(handshakeFile(), "utf8"), `1|1|unix|${socks}/plugin1|grpc|\n`);
      assert.equal(await l.exit, 5);
      assert.equal(l.stdout(), `1|1|unix|${socks}/plugin1|grpc|\nafter\n`);
      assert.equal(existsSync(handshakeFile()), false, "removed: it held this plugin's line");
    });

    it("a command that does not exist: exit 127 with the reason", async () => {
      const l = launchRun([join(t.dir, "no-such-plugin")], sidecarEnv());
      assert.equal(await l.exit, 127);
      assert.match(l.stderr(), /cannot start .*no-such-plugin.*\[LAUNCHER_START_FAILED\]/);
    });

    it("refuses to run without PODPLUG_HANDSHAKE_FILE, and without arguments", async () => {
      const l = launchRun([goPeer("grpc-plugin")], { BASIC_PLUGIN: "hello" });
      assert.equal(await l.exit, 2);
      assert.match(l.stderr(), /PODPLUG_HANDSHAKE_FILE is not set.*\[LAUNCHER_NO_HANDSHAKE_FILE\]/);
      for (const argv of [[], ["run"], ["run", "--"], ["dance"]]) {
        const u = launch(argv, {});
        assert.equal(await u.exit, 2, argv.join(" "));
        assert.match(u.stderr(), /\[LAUNCHER_USAGE\]/);
      }
    });

    it("a first line that is no handshake is also the termination message, CODE: sentence", async () => {
      const term = join(t.dir, "termination-log");
      const l = launchRun(
        script("console.log('hello'); setInterval(() => {}, 1000)"),
        sidecarEnv({ PODPLUG_TERMINATION_LOG: term }),
      );
      running.push(l);
      assert.equal(await l.exit, 1);
      assert.match(
        readFileSync(term, "utf8"),
        /^LAUNCHER_BAD_HANDSHAKE: the plugin's first stdout line: not a go-plugin handshake line/,
      );
    });

    it("copy writes the launcher and its probe into DIR, executable, and the copied probe runs", async () => {
      const dest = join(t.dir, "bin");
      mkdirSync(dest);
      const l = launch(["copy", dest], {});
      assert.equal(await l.exit, 0, l.stderr());
      assert.deepEqual(readdirSync(dest).sort(), ["podplug-launcher", "podplug-probe"]);
      const r = spawnSync(join(dest, "podplug-launcher"), ["probe"], { encoding: "utf8", env: sidecarEnv() });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no handshake file/);
    });
  });
});
