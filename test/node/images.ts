/**
 * Image indexes the harness imports. Two writers, one reader:
 * tools/node/build-images.sh (the node's own images) writes one JSON object a
 * line, {"ref", "archive"}; the images target (tools/build-images.sh) writes
 * {"images": [{"name", "ref", "archive", ...}]} with archives relative to the
 * index. Either way each entry names the full image ref its archive carries.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { cacheDir } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import type { ImageArchive } from "./node.ts";

const REPO = resolve(import.meta.dirname, "..", "..");

function entry(path: string, v: unknown, where: string): ImageArchive {
  const o = v as { ref?: unknown; archive?: unknown; digest?: unknown };
  if (typeof o?.ref !== "string" || typeof o.archive !== "string")
    throw new HarnessError("CLUSTER_START_FAILED", `${where}: want {"ref": string, "archive": string}`);
  const a: ImageArchive = { ref: o.ref, archive: resolve(dirname(path), o.archive) };
  return typeof o.digest === "string" && /^sha256:[a-f0-9]{64}$/.test(o.digest) ? { ...a, digest: o.digest } : a;
}

/** Parses an index in either format; a missing file names the command that builds it. */
export function readImageIndex(path: string, buildWith = "tools/node/build-images.sh"): ImageArchive[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new HarnessError(
      "CLUSTER_BINARY_MISSING",
      `no image index at ${path}: run \`make test-deps\` (or ${buildWith}) to build the images`,
    );
  }
  let doc: { images?: unknown } | undefined;
  try {
    doc = JSON.parse(text) as { images?: unknown };
  } catch {
    // Not one document: JSON lines.
  }
  if (doc && Array.isArray(doc.images)) return doc.images.map((v, i) => entry(path, v, `${path}: images[${i}]`));
  return text
    .split("\n")
    .map((l, n) => ({ l, n }))
    .filter(({ l }) => l.trim() !== "")
    .map(({ l, n }) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch (err) {
        throw new HarnessError("CLUSTER_START_FAILED", `${path}:${n + 1}: not JSON (${(err as Error).message})`);
      }
      return entry(path, v, `${path}:${n + 1}`);
    });
}

/** The node's own images: pause and the e2e tools image. */
export function nodeImages(): ImageArchive[] {
  return readImageIndex(join(cacheDir(), "node-images", "index.json"));
}

/** Where the images target writes its index (PODPLUG_IMAGE_INDEX wins). */
export function projectImageIndex(): string {
  return process.env.PODPLUG_IMAGE_INDEX ?? join(REPO, "dist", "images", "images.json");
}

/** `image`'s reference by digest (`repo@sha256:…`), as a Plugin pinned to it names it; undefined without a digest. */
export function digestRef(image: ImageArchive): string | undefined {
  return image.digest ? `${image.ref.replace(/:[^:/]+$/, "")}@${image.digest}` : undefined;
}

/** The image whose ref starts with `prefix` (e.g. "localhost/podplug/e2e-tools:"). */
export function imageRef(images: ImageArchive[], prefix: string): string {
  const t = images.find((i) => i.ref.startsWith(prefix));
  if (!t)
    throw new HarnessError(
      "CLUSTER_START_FAILED",
      `no image ${prefix}* among ${images.map((i) => i.ref).join(", ")}: build it first (make images / make test-deps)`,
    );
  return t.ref;
}

/** The e2e tools image (busybox): a first pod, and a client inside the pod network. */
export function toolsImage(images: ImageArchive[]): string {
  return imageRef(images, "localhost/podplug/e2e-tools:");
}
