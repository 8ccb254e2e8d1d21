/**
 * The SDKs as users import them: the built package's subpath exports resolve
 * from another project, on every Node version package.json declares.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE, ROOT, tempDir } from "../helpers.ts";

interface Pkg {
  engines: { node: string };
  exports: Record<string, { types: string; default: string } | string>;
}

describe("the published package", function () {
  this.timeout(60_000);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Pkg;

  it("declares its Node versions and points every export at a built file with types", () => {
    assert.match(pkg.engines.node, /24/);
    for (const [sub, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue;
      assert.ok(existsSync(join(ROOT, target.default)), `${sub}: ${target.default} (run make build)`);
      assert.ok(existsSync(join(ROOT, target.types)), `${sub}: ${target.types}`);
    }
  });

  it("`podplug/plugin` and `podplug/host` import by name from a consumer project", () => {
    const t = tempDir("pkg-");
    try {
      mkdirSync(join(t.dir, "node_modules"));
      symlinkSync(ROOT, join(t.dir, "node_modules", "podplug"));
      writeFileSync(
        join(t.dir, "main.mjs"),
        `import { serve } from "podplug/plugin"; import { Client, PodplugError } from "podplug/host";
         console.log(typeof serve, typeof Client, new PodplugError("PLUGIN_UNKNOWN", "x").code);`,
      );
      const out = execFileSync(NODE, ["main.mjs"], { cwd: t.dir, encoding: "utf8" });
      assert.equal(out.trim(), "function function PLUGIN_UNKNOWN");
    } finally {
      t.remove();
    }
  });
});
