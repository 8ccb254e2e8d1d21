/**
 * Image digest pinning (issue 11): the digest a Plugin's `spec.image` pins
 * (`name@sha256:<64 hex>`), the operator's optional policy that requires
 * one, and the digest a pod's container runs (its containerStatuses'
 * `imageID`). The CRD refuses a malformed digest at admission; this checks
 * again for objects stored before that rule existed.
 */
import type { Plugin } from "../src/inject/types.ts";

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** What spec.image says about its digest. */
export type ImageDigest = { pinned: true; digest: string } | { pinned: false } | { pinned: false; invalid: string };

/** The digest `image` pins, none, or why what follows its `@` is not a digest. */
export function imageDigest(image: string): ImageDigest {
  const at = image.indexOf("@");
  if (at < 0) return { pinned: false };
  const digest = image.slice(at + 1);
  if (at === 0 || !DIGEST.test(digest))
    return {
      pinned: false,
      invalid: `spec.image ${JSON.stringify(image)}: the digest after @ must be sha256: and 64 lowercase hex digits (or sha512: and 128), after an image name`,
    };
  return { pinned: true, digest };
}

/**
 * The repository digest in a container status's imageID (`repo@sha256:…`,
 * `docker-pullable://…@sha256:…`); undefined when it has none. A bare
 * `sha256:…` is the image's config digest (containerd reports it for an image
 * imported without a repository digest, as `kind load` and `ctr import` make):
 * another hash than the manifest digest a Plugin pins, so it says nothing
 * about the pin and is not taken for a mismatch.
 */
export function runningDigest(imageID: string | undefined): string | undefined {
  const m = /@(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.exec(imageID ?? "");
  return m?.[1];
}

/** Why a Plugin may not be injected under the digest policy: a condition reason and a message; undefined when it may. */
export function digestRefusal(
  p: Readonly<Plugin>,
  requireDigests: boolean,
): { reason: "ImageDigestInvalid" | "ImageDigestRequired"; message: string } | undefined {
  const d = imageDigest(p.spec.image);
  if ("invalid" in d) return { reason: "ImageDigestInvalid", message: `${d.invalid}; nothing is injected` };
  if (!d.pinned && requireDigests)
    return {
      reason: "ImageDigestRequired",
      message: `spec.image ${JSON.stringify(p.spec.image)} pins no digest and this operator requires one (--require-image-digests, chart value requireImageDigests): pin it as ${p.spec.image.replace(/:[^/:]*$/, "")}@sha256:<digest>; nothing is injected`,
    };
  return undefined;
}
