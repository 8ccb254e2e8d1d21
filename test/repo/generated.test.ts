/** Generated protobuf code must match what `make proto` makes from proto/ today. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT, tempDir } from "../helpers.ts";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("generated code", function () {
  this.timeout(60_000);
  it("src/gen is up to date with proto/ (run `make proto` if this fails)", () => {
    const t = tempDir("gen-");
    try {
      execFileSync(join(ROOT, "tools", "gen-proto.sh"), [t.dir], { cwd: ROOT, stdio: "pipe" });
      const fresh = files(t.dir)
        .map((p) => relative(t.dir, p))
        .sort();
      const committed = files(join(ROOT, "src", "gen"))
        .map((p) => relative(join(ROOT, "src", "gen"), p))
        .sort();
      assert.deepEqual(committed, fresh, "the same files");
      for (const f of fresh) {
        assert.equal(
          readFileSync(join(ROOT, "src", "gen", f), "utf8"),
          readFileSync(join(t.dir, f), "utf8"),
          `${f} is stale`,
        );
      }
    } finally {
      t.remove();
    }
  });
});
