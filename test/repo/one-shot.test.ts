/**
 * The README's one-shot example commands, run as a new user would: from the
 * repository root. They work, and leave nothing in the repository.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { NODE, ROOT, tempDir } from "../helpers.ts";

describe("README one-shot examples", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  /** Runs `node examples/<example>/host.ts ...args` in the repository root; TMPDIR points at a test folder. */
  const run = (example: string, ...args: string[]): string => {
    const r = spawnSync(NODE, [`examples/${example}/host.ts`, ...args], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, TMPDIR: t.dir, KV_DIR: "" },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return r.stdout;
  };

  it("kv and counter put/get from the repository root keep their data in $TMPDIR/podplug-examples, not in the repository", () => {
    // An empty KV_DIR is the same as none; the env above clears a KV_DIR the test runner may have.
    const before = readdirSync(ROOT).sort();
    run("kv", "put", "hello", "world");
    assert.match(run("kv", "get", "hello"), /^world\n\nWritten from plugin-ts-grpc\n$/);
    run("counter", "put", "visits", "5");
    run("counter", "put", "visits", "2");
    assert.equal(run("counter", "get", "visits"), "7\n");
    assert.deepEqual(readdirSync(ROOT).sort(), before, "no file left in the repository root");
    assert.ok(existsSync(join(t.dir, "podplug-examples", "kv_hello")));
    assert.ok(existsSync(join(t.dir, "podplug-examples", "kv_visits")));
  });
});
