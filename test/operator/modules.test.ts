/**
 * What the operator loads at start: OpenTelemetry's SDK only when OTEL_*
 * turns tracing on, the webhook's certificate code (pkijs) only in webhook
 * mode (issue 18: together some 10 MiB of RSS an operator without them pays
 * for nothing). Read from a real Node process's module resolution.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = join(import.meta.dirname, "..", "..");

// Records every resolved module URL, imports operator/main.ts (its static graph: main() does not run
// unless it is the entry point) and prints the URLs as JSON.
const PROBE = `
import { registerHooks } from "node:module";
const urls = [];
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); urls.push(r.url); return r; } });
await import(${JSON.stringify(join(ROOT, "operator", "main.ts"))});
process.stdout.write(JSON.stringify(urls));
`;

async function loadedModules(): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", PROBE], {
    cwd: ROOT,
    timeout: 30_000,
  });
  return JSON.parse(stdout) as string[];
}

describe("operator: modules loaded at start", () => {
  it("leaves out OpenTelemetry's SDK and the webhook's certificate code until they are used", async () => {
    const urls = await loadedModules();
    const pkg = (name: string): string[] => urls.filter((u) => u.includes(`/node_modules/${name}/`));
    // The probe sees the operator's own dependencies (so an empty list below means something).
    assert.ok(pkg("prom-client").length > 0, "prom-client is loaded");
    assert.ok(
      urls.some((u) => u.endsWith("/operator/manager.ts")),
      "the manager is loaded",
    );
    for (const name of [
      "@opentelemetry/sdk-trace",
      "@opentelemetry/exporter-trace-otlp-proto",
      "@opentelemetry/resources",
      "pkijs",
      "asn1js",
    ])
      assert.deepEqual(pkg(name), [], `${name} is not loaded at start`);
    assert.deepEqual(
      urls.filter((u) => u.includes("/src/tracing/sdk.ts") || u.includes("/operator/webhook/")),
      [],
      "podplug's tracing SDK and the webhook are not loaded at start",
    );
  });
});
