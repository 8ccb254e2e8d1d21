/** How `podplug run` decides to keep plugins apart, and what it says when it cannot. */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decideIsolation, PLUGIN_UID_MAX, PLUGIN_UID_MIN, privateAncestor } from "../../src/local/isolation.ts";
import { ROOT, tempDir } from "../helpers.ts";

const refuse = (reason: string): never => {
  throw new Error(`refused: ${reason}`);
};
const root = process.getuid?.() === 0;

describe("local isolation", () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  it("privateAncestor finds the first folder other users cannot enter", () => {
    const inner = join(t.dir, "a", "b");
    mkdirSync(inner, { recursive: true });
    chmodSync(t.dir, 0o700);
    assert.equal(privateAncestor(inner), t.dir);
    chmodSync(t.dir, 0o711);
    assert.equal(privateAncestor(inner), undefined);
  });

  it("none means none; uid refuses where auto falls back, naming the reason", () => {
    assert.equal(decideIsolation("none", { stateDir: t.dir, cwd: ROOT }, refuse).perPluginUser, false);
    chmodSync(t.dir, 0o700);
    const auto = decideIsolation("auto", { stateDir: t.dir, cwd: ROOT }, refuse);
    assert.equal(auto.perPluginUser, false);
    assert.match(auto.reason!, root ? new RegExp(`inside ${t.dir}.*chmod o\\+x`) : /not running as root/);
    assert.throws(() => decideIsolation("uid", { stateDir: t.dir, cwd: ROOT }, refuse), /^Error: refused: /);
  });

  it("as root with passable folders: a stable, distinct uid per plugin, in range and not a known user's", () => {
    chmodSync(t.dir, 0o711);
    const iso = decideIsolation("auto", { stateDir: t.dir, cwd: ROOT }, refuse);
    assert.equal(iso.perPluginUser, root);
    if (!root) return;
    const known = new Set(
      readFileSync("/etc/passwd", "utf8")
        .split("\n")
        .map((l) => Number(l.split(":")[2])),
    );
    const users = Array.from({ length: 50 }, (_, i) => iso.userFor(`${t.dir}/plugin-${i}`));
    assert.equal(new Set(users.map((u) => u.uid)).size, 50, "distinct");
    for (const u of users) {
      assert.ok(u.uid >= PLUGIN_UID_MIN && u.uid <= PLUGIN_UID_MAX, String(u.uid));
      assert.equal(u.gid, u.uid);
      assert.equal(known.has(u.uid), false);
    }
    assert.deepEqual(iso.userFor(`${t.dir}/plugin-7`), users[7], "stable");
  });
});
