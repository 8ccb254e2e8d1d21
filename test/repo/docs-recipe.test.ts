/**
 * docs/plugin-authors.md and docs/host-authors.md are a complete recipe: the
 * blocks marked `<!-- file: NAME -->` are written into an empty project, the
 * documented `buf generate` runs with the documented options, and the host
 * starts the plugin and calls it — with nothing but the docs' text.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { NODE, ROOT, tempDir } from "../helpers.ts";

/** The `<!-- file: NAME -->` blocks of a Markdown file. */
function fileBlocks(markdown: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of markdown.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) files.set(m[1]!, `${m[2]}\n`);
  return files;
}

describe("the plugin and host recipe in docs/", function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  before(() => {
    t = tempDir("recipe-");
    const docs = ["plugin-authors.md", "host-authors.md"].map((d) => readFileSync(join(ROOT, "docs", d), "utf8"));
    const files = new Map([...fileBlocks(docs[0]!), ...fileBlocks(docs[1]!)]);
    assert.deepEqual(
      [...files.keys()].sort(),
      ["buf.gen.yaml", "host.ts", "plugin.ts", "protos/greeter.proto", "shared.ts"],
      "the docs mark every file of the recipe",
    );
    for (const [name, text] of files) {
      mkdirSync(dirname(join(t.dir, name)), { recursive: true });
      writeFileSync(join(t.dir, name), text);
    }
    // What `npm init -y && npm pkg set type=module && npm install ...` gives, from this checkout (no registry).
    writeFileSync(join(t.dir, "package.json"), JSON.stringify({ name: "greeter", type: "module" }));
    mkdirSync(join(t.dir, "node_modules"));
    symlinkSync(ROOT, join(t.dir, "node_modules", "podplug"));
    for (const dep of ["@grpc", "@bufbuild", "@types"])
      symlinkSync(join(ROOT, "node_modules", dep), join(t.dir, "node_modules", dep));
    const gen = spawnSync(join(ROOT, "node_modules/.bin/buf"), ["generate", "protos"], {
      cwd: t.dir,
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` },
      timeout: 60_000,
    });
    assert.equal(gen.status, 0, gen.stdout + gen.stderr);
  });
  after(() => t.remove());

  it("the generated code and the documented files run: the host prints the plugin's answer on stdout", () => {
    const r = spawnSync(NODE, ["host.ts", "docs"], { cwd: t.dir, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, "hello, docs\n", "stdout is the program's own output only");
    const logs = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { plugin?: string; msg?: string });
    assert.ok(
      logs.some((l) => l.plugin === "plugin.ts" && l.msg === "greeter ready"),
      `the plugin's log line reaches the host's default logger on stderr:\n${r.stderr}`,
    );
  });

  it("the recipe type-checks under strict TypeScript", () => {
    writeFileSync(
      join(t.dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2023",
          module: "nodenext",
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          types: ["node"],
        },
        include: ["*.ts", "gen"],
      }),
    );
    const r = spawnSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", "."], {
      cwd: t.dir,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("the plugin run on its own refuses with go-plugin's message and exit 1, as the docs say", () => {
    const r = spawnSync(NODE, ["plugin.ts"], { cwd: t.dir, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /This binary is a plugin/);
  });
});
