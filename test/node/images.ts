/** The image index files that tools/node/build-images.sh (and the images target) write: one JSON object a line. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import type { ImageArchive } from "./node.ts";

/** Parses an index; every line must be {"ref": "<name:tag>", "archive": "<path>"}. */
export function readImageIndex(path: string): ImageArchive[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new HarnessError(
      "PODPLUG_CLUSTER_BINARY_MISSING",
      `no image index at ${path}: run \`make test-deps\` (or tools/node/build-images.sh) to build the node's images`,
    );
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, n) => {
      const v = JSON.parse(l) as { ref?: unknown; archive?: unknown };
      if (typeof v.ref !== "string" || typeof v.archive !== "string")
        throw new HarnessError(
          "PODPLUG_CLUSTER_START_FAILED",
          `${path}:${n + 1}: want {"ref": string, "archive": string}`,
        );
      return { ref: v.ref, archive: v.archive };
    });
}

/** The node's own images: pause and the e2e tools image. */
export function nodeImages(): ImageArchive[] {
  return readImageIndex(join(cacheDir(), "node-images", "index.json"));
}

/** The e2e tools image (busybox): a first pod, and a client inside the pod network. */
export function toolsImage(images: ImageArchive[]): string {
  const t = images.find((i) => i.ref.startsWith("localhost/podplug/e2e-tools:"));
  if (!t)
    throw new HarnessError("PODPLUG_CLUSTER_START_FAILED", "the image index has no localhost/podplug/e2e-tools image");
  return t.ref;
}
