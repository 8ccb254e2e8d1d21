/**
 * jazzer.js target: the manifest loader of `podplug run -f` (loadManifests),
 * the input written as one manifest file. Property of
 * test/fuzz/manifests.test.ts: the loader returns hosts with containers, or
 * throws its own coded error (MANIFEST_*), never another exception.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManifests } from "../../../src/local/manifests.ts";
import { coded, expect } from "./crash.ts";

// One file, rewritten per input; removed when the fuzzer exits.
const dir = mkdtempSync(join(process.env.PODPLUG_FUZZ_TMP ?? tmpdir(), "pfz-jazzer-"));
const file = join(dir, "m.yaml");
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

export function fuzz(data: Buffer): void {
  writeFileSync(file, data);
  try {
    const m = loadManifests([file]);
    expect(m.hosts.length > 0, () => "loaded with no host");
    for (const h of m.hosts)
      expect(Array.isArray(h.template.spec?.containers), () => `host ${h.name} has no containers list`);
  } catch (err) {
    coded(err, /^MANIFEST_/);
  }
}
