/** The host SDK's default logger writes to stderr, never into the host program's own stdout. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fixture, NODE, ROOT } from "../helpers.ts";

describe("host SDK default logger", function () {
  this.timeout(30_000);

  it("a Client without `logger` logs the plugin's lines as pino JSON on stderr; stdout has only the program's output", () => {
    const script = `
      const { Client } = await import("./src/host/index.ts");
      const { handshake, kvPlugin } = await import("./examples/kv/shared.ts");
      const c = new Client({ handshake, plugins: { kv: kvPlugin() }, cmd: { command: process.execPath, args: [${JSON.stringify(fixture("test-plugin.ts"))}] } });
      const kv = await c.dispense("kv");
      console.log("program output:", (await kv.get("pid")).length > 0);
      await c.kill();
    `;
    const r = spawnSync(NODE, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 25_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "program output: true\n");
    // The test plugin logs at every hclog level on start; warn and error reach the default (info) logger.
    const records = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; plugin?: string; msg?: string });
    assert.ok(
      records.some((x) => x.plugin === "test-plugin.ts" && x.level === 40 && x.msg === "hello at warn"),
      r.stderr,
    );
  });
});
