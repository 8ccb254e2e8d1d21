/**
 * package.json declares `node: ^22.19.0 || >=24.0.0`. Each supported major
 * runs the built SDKs for real: a host and its plugin, both on that Node,
 * over a Unix socket, with a broker callback.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pinnedVersion } from "../cluster/binaries.ts";
import { ROOT, tempDir } from "../helpers.ts";

// Node 24 is the project's own `node` package; `make test-deps` puts Node 22 in the cache (tools/fetch-node.sh).
const CACHE = process.env.PODPLUG_CACHE ?? join(homedir(), ".cache", "podplug");
const NODES: Record<string, string> = {
  "22": join(CACHE, "node", pinnedVersion("PODPLUG_NODE22_VERSION"), "node_modules", "node", "bin", "node"),
  "24": join(ROOT, "node_modules", "node", "bin", "node"),
};

describe("supported Node versions", function () {
  this.timeout(60_000);
  const engines = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } })
    .engines.node;

  it("declares exactly the majors the tests run", () => {
    const majors = [...engines.matchAll(/(\d+)\.\d+\.\d+/g)].map((m) => m[1]);
    assert.deepEqual(majors.sort(), Object.keys(NODES).sort());
  });

  for (const [major, node] of Object.entries(NODES)) {
    it(`Node ${major}: the built host starts the built plugin; kv and the counter's broker callback work`, () => {
      const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
      assert.match(version, new RegExp(`^v${major}\\.`));
      const t = tempDir();
      try {
        const run = (example: string, ...args: string[]): string =>
          execFileSync(node, [join(ROOT, "dist", "examples", example, "host.js"), ...args], {
            cwd: t.dir,
            encoding: "utf8",
            // The plugin runs on the same Node: `node` on PATH is this one.
            env: { ...process.env, PATH: `${join(node, "..")}:${process.env.PATH}`, KV_DIR: t.dir },
          });
        run("kv", "put", "greeting", `hello from ${version}`);
        assert.match(
          run("kv", "get", "greeting"),
          new RegExp(`^hello from ${version}\\n\\nWritten from plugin-ts-grpc`),
        );
        run("counter", "put", "n", "2");
        run("counter", "put", "n", "3");
        assert.equal(run("counter", "get", "n").trim(), "5");
      } finally {
        t.remove();
      }
    });
  }
});
