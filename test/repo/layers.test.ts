/**
 * Who may import whom: the local runtime and the process layer use only
 * shared modules, never the host SDK's internals.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

/** Relative import specifiers of every .ts file in `dir`. */
function imports(dir: string): { file: string; spec: string }[] {
  const out: { file: string; spec: string }[] = [];
  for (const f of readdirSync(join(ROOT, dir)).filter((n) => n.endsWith(".ts"))) {
    const text = readFileSync(join(ROOT, dir, f), "utf8");
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|import\("([^"]+)"\)/g))
      out.push({ file: `${dir}/${f}`, spec: (m[1] ?? m[2])! });
  }
  return out;
}

describe("layers", () => {
  for (const [dir, banned] of [
    ["src/local", /(^|\/)host\//],
    ["src/process", /(^|\/)(host|local|cli|plugin|transport)\//],
  ] as const) {
    it(`${dir} imports nothing from ${banned.source}`, () => {
      const all = imports(dir);
      assert.ok(all.length > 0, "the scan found the imports");
      assert.deepEqual(
        all.filter((i) => i.spec.startsWith(".") && banned.test(i.spec)),
        [],
      );
    });
  }
});
