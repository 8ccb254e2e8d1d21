import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { imageRef, readImageIndex } from "./images.ts";

describe("the node's image indexes", () => {
  const t = tempDir("pimg-");
  after(t.remove);

  it("reads the node's JSON lines and the images target's document, archives relative to the index", () => {
    writeFileSync(join(t.dir, "lines.json"), '{"ref":"localhost/podplug/pause:3.10.1","archive":"/abs/pause.tar"}\n\n');
    assert.deepEqual(readImageIndex(join(t.dir, "lines.json")), [
      { ref: "localhost/podplug/pause:3.10.1", archive: "/abs/pause.tar" },
    ]);
    writeFileSync(
      join(t.dir, "images.json"),
      JSON.stringify(
        { images: [{ name: "podplug", ref: "localhost/podplug/podplug:0.1.0", archive: "podplug.oci.tar" }] },
        null,
        2,
      ),
    );
    assert.deepEqual(readImageIndex(join(t.dir, "images.json")), [
      { ref: "localhost/podplug/podplug:0.1.0", archive: join(t.dir, "podplug.oci.tar") },
    ]);
  });

  it("refuses entries without a ref or an archive, and names the line", () => {
    writeFileSync(join(t.dir, "bad.json"), '{"ref":"a:1","archive":"/a"}\n{"ref":42}\n');
    assert.throws(
      () => readImageIndex(join(t.dir, "bad.json")),
      (e: Error & { code?: string }) => e.code === "CLUSTER_START_FAILED" && /bad\.json:2/.test(e.message),
    );
    writeFileSync(join(t.dir, "bad2.json"), JSON.stringify({ images: [{ ref: "x:1" }] }));
    assert.throws(() => readImageIndex(join(t.dir, "bad2.json")), /images\[0\]/);
    writeFileSync(join(t.dir, "bad3.json"), "not json\n");
    assert.throws(() => readImageIndex(join(t.dir, "bad3.json")), { code: "CLUSTER_START_FAILED" });
  });

  it("names the command that builds a missing index, and a missing image", () => {
    assert.throws(
      () => readImageIndex(join(t.dir, "none.json"), "make images"),
      (e: Error & { code?: string }) => e.code === "CLUSTER_BINARY_MISSING" && /make images/.test(e.message),
    );
    assert.throws(
      () => imageRef([{ ref: "a:1", archive: "/a" }], "localhost/podplug/podplug:"),
      /no image localhost\/podplug\/podplug:\* among a:1/,
    );
  });
});
