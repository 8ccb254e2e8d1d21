/**
 * What a plugin process loads before its handshake, which is what every
 * restart pays for (issue 12's recovery time): OpenTelemetry (some 290
 * modules) only when OTEL_* turns tracing on, pkijs and asn1js only with
 * AutoMTLS. Read from a real plugin process's module loads (a load hook given
 * with --import), up to its handshake line; and the host SDK's Client, built,
 * loads no OpenTelemetry SDK either.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateCertificate } from "../../src/protocol/self-signed.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const PLUGIN = join(ROOT, "test", "fixtures", "test-plugin.ts");

// Appends each loaded module's URL to the file PODPLUG_TEST_MODULES names, as it loads.
const HOOK = `
import { registerHooks } from "node:module";
import { appendFileSync } from "node:fs";
const out = process.env.PODPLUG_TEST_MODULES;
registerHooks({ load(url, ctx, next) { appendFileSync(out, url + "\\n"); return next(url, ctx); } });
`;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "podplug-modules-"));
  writeFileSync(join(dir, "hook.mjs"), HOOK);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The modules the test plugin loaded until it printed its handshake line, with `env` added. */
async function pluginModules(name: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const out = join(dir, `${name}.txt`);
  writeFileSync(out, "");
  const child = spawn(process.execPath, ["--import", join(dir, "hook.mjs"), PLUGIN], {
    env: {
      ...process.env,
      OTEL_TRACES_EXPORTER: undefined,
      OTEL_SDK_DISABLED: undefined,
      PLUGIN_CLIENT_CERT: undefined,
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PODPLUG_TEST_MODULES: out,
      PLUGIN_UNIX_SOCKET_DIR: dir,
      ...env,
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no handshake line within 30 s")), 30_000);
      child.stdout.once("data", (d: Buffer) => {
        clearTimeout(timer);
        resolve(d.toString());
      });
      child.once("exit", (code) => reject(new Error(`the plugin exited (${code}) before its handshake`)));
    });
    assert.match(line, /^1\|1\|unix\|/);
    return readFileSync(out, "utf8").split("\n").filter(Boolean);
  } finally {
    child.kill("SIGTERM"); // a plugin that stops removes its socket
    await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.once("exit", r) : r(null)));
  }
}

const pkg = (urls: string[], name: string): string[] => urls.filter((u) => u.includes(`/node_modules/${name}/`));
const HEAVY = [
  "@opentelemetry/api",
  "@opentelemetry/sdk-trace",
  "@opentelemetry/exporter-trace-otlp-proto",
  "prom-client",
];

describe("SDK: modules loaded at start", () => {
  it("a plugin without tracing or AutoMTLS loads neither OpenTelemetry nor pkijs before its handshake", async () => {
    const urls = await pluginModules("plain", {});
    // The probe sees the plugin's own dependencies (so an empty list below means something).
    assert.ok(pkg(urls, "@grpc/grpc-js").length > 0, "grpc-js is loaded");
    assert.ok(urls.some((u) => u.endsWith("/src/plugin/serve.ts")));
    for (const name of [...HEAVY, "pkijs", "asn1js"]) assert.deepEqual(pkg(urls, name), [], `${name} is not loaded`);
    assert.deepEqual(
      urls.filter((u) => /\/src\/(tracing\/(sdk|grpc)|protocol\/self-signed)\.ts$/.test(u)),
      [],
      "the tracing SDK and the certificate maker are not loaded",
    );
  });

  it("loads them when asked: OTEL_TRACES_EXPORTER=console loads the SDK, PLUGIN_CLIENT_CERT loads pkijs", async () => {
    const traced = await pluginModules("traced", { OTEL_TRACES_EXPORTER: "console" });
    assert.ok(pkg(traced, "@opentelemetry/sdk-trace").length > 0, "the SDK is loaded with tracing on");
    assert.deepEqual(pkg(traced, "pkijs"), []);
    const { certPem } = await generateCertificate();
    const mtls = await pluginModules("mtls", { PLUGIN_CLIENT_CERT: certPem });
    assert.ok(pkg(mtls, "pkijs").length > 0, "pkijs is loaded with AutoMTLS");
    assert.deepEqual(pkg(mtls, "@opentelemetry/api"), []);
  });

  it("the host SDK's Client, built and dispensing nothing yet, loads no OpenTelemetry SDK", async () => {
    const probe = `
import { registerHooks } from "node:module";
const urls = [];
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); urls.push(r.url); return r; } });
const { Client } = await import(${JSON.stringify(join(ROOT, "src", "host", "index.ts"))});
new Client({ handshake: { protocolVersion: 1, magicCookieKey: "K", magicCookieValue: "V" }, plugins: {}, cmd: { command: "/bin/true" } });
process.stdout.write(JSON.stringify(urls));
`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", probe], {
      cwd: ROOT,
      timeout: 30_000,
      env: { ...process.env, OTEL_TRACES_EXPORTER: undefined },
    });
    const urls = JSON.parse(stdout) as string[];
    assert.ok(pkg(urls, "prom-client").length > 0, "the host's metrics are loaded");
    // prom-client itself loads OpenTelemetry's API (for exemplars); the SDK stays out.
    for (const name of [
      "@opentelemetry/sdk-trace",
      "@opentelemetry/exporter-trace-otlp-proto",
      "@opentelemetry/resources",
      "pkijs",
    ])
      assert.deepEqual(pkg(urls, name), [], `${name} is not loaded`);
  });
});
