/**
 * The go-plugin version of the Go peers has one source of truth per module
 * file, and mk/versions.env states the same: the current version the peers
 * are built with, and the oldest one `make interop-oldest` runs against.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../interop/peers.ts";

function required(modFile: string): string | undefined {
  return /^\s*github\.com\/hashicorp\/go-plugin (v\S+)/m.exec(readFileSync(join(ROOT, modFile), "utf8"))?.[1];
}

function pinned(name: string): string | undefined {
  return new RegExp(`^${name}=(\\S+)$`, "m").exec(readFileSync(join(ROOT, "mk/versions.env"), "utf8"))?.[1];
}

describe("go-plugin versions", () => {
  it("test/go and sdk/go require the go-plugin mk/versions.env pins", () => {
    const v = pinned("PODPLUG_GO_PLUGIN_VERSION");
    assert.match(v ?? "", /^v\d+\.\d+\.\d+$/);
    assert.equal(required("test/go/go.mod"), v);
    assert.equal(required("sdk/go/go.mod"), v);
  });

  it("the oldest version claimed is at least 1.6.0 (multiplexing) and not newer than the current one", () => {
    const parse = (s: string | undefined): number[] => (s ?? "").slice(1).split(".").map(Number);
    const oldest = parse(pinned("PODPLUG_GO_PLUGIN_OLDEST"));
    const current = parse(pinned("PODPLUG_GO_PLUGIN_VERSION"));
    const cmp = (a: number[], b: number[]): number => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
    assert.ok(cmp(oldest, [1, 6, 0]) >= 0, `oldest ${oldest.join(".")}`);
    assert.ok(cmp(oldest, current) <= 0);
  });
});
