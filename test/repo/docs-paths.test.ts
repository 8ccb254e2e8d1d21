/**
 * The docs cite only files that are in the repository: every repository path
 * in README.md and docs/*.md (src/..., test/..., operator/..., ...) exists,
 * and every source file named in backticks (`channel.ts`, `h2/hpack.ts`) is
 * some file's path or the end of one.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

const TOP = ["src", "docs", "test", "operator", "examples", "bench", "tools", "crds", "charts", "sdk", "proto", "mk"];
// A path starts a word (not inside a URL or another path) and is made of path characters.
const PATH = new RegExp(`(?<![\\w/.…-])((?:${TOP.join("|")})/[\\w./-]*)`, "g");

/** Every file below the source folders, as paths relative to the repository. */
function repositoryFiles(): string[] {
  return TOP.filter((d) => existsSync(join(ROOT, d))).flatMap((d) =>
    readdirSync(join(ROOT, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1)),
  );
}

describe("docs cite files that exist", () => {
  const files = repositoryFiles();
  const docs = ["README.md", ...readdirSync(join(ROOT, "docs")).map((n) => join("docs", n))].filter((f) =>
    f.endsWith(".md"),
  );

  for (const doc of docs) {
    it(doc, () => {
      const text = readFileSync(join(ROOT, doc), "utf8");
      const missing = [...text.matchAll(PATH)]
        .map((m) => m[1]!.replace(/[.,:;)]+$/, ""))
        .filter((p) => !existsSync(join(ROOT, p)));
      assert.deepEqual([...new Set(missing)], [], `${doc} cites paths not in the repository`);
      const named = [...text.matchAll(/`([\w./-]+\.(?:ts|go|sh|yaml|mk))`/g)].map((m) => m[1]!);
      const unknown = named.filter((n) => !files.some((f) => f === n || f.endsWith(`/${n}`)));
      assert.deepEqual([...new Set(unknown)], [], `${doc} names files not in the repository`);
    });
  }
});
