/**
 * go-plugin's SecureConfig: the host checks the plugin executable's checksum
 * before it starts it (subprocess mode only; nothing goes on the wire). As
 * go-plugin: the file the command resolves to is hashed whole and compared
 * in constant time; a mismatch means the plugin is never started. As
 * go-plugin documents, the check and the exec are two steps: install the
 * binary where no untrusted user can replace it in between.
 */
import { createHash, getHashes, timingSafeEqual } from "node:crypto";
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { PodplugError } from "../errors.ts";

/** go-plugin's SecureConfig: the expected checksum and the hash that makes it. */
export interface SecureConfig {
  /** The expected digest: bytes, or hex text (as `sha256sum` prints it). */
  checksum: Buffer | string;
  /** A node:crypto hash name, e.g. "sha256" (go-plugin takes a hash.Hash; sha256.New() is the usual one). */
  hash: string;
}

function expectedBytes(c: SecureConfig): Buffer {
  if (Buffer.isBuffer(c.checksum)) return c.checksum;
  const hex = c.checksum.trim().toLowerCase();
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex))
    throw new PodplugError(
      "SECURE_CONFIG_INVALID",
      `SecureConfig: checksum ${JSON.stringify(c.checksum.slice(0, 80))} is not hex; give the digest's bytes or its hex text.`,
    );
  return Buffer.from(hex, "hex");
}

/** Refuses an unusable SecureConfig with go-plugin's words. */
export function validateSecureConfig(c: SecureConfig): void {
  if (expectedBytes(c).length === 0)
    throw new PodplugError("SECURE_CONFIG_INVALID", "SecureConfig: no checksum provided.");
  if (typeof c.hash !== "string" || !getHashes().includes(c.hash.toLowerCase()))
    throw new PodplugError(
      "SECURE_CONFIG_INVALID",
      `SecureConfig: no hash implementation provided (${JSON.stringify(c.hash)} is not a node:crypto hash; use e.g. "sha256").`,
      { hash: c.hash },
    );
}

/**
 * The executable a command runs, as exec.LookPath finds it: a name with a
 * slash is a path (relative to `cwd`), else the first executable file on PATH.
 */
export function resolveExecutable(command: string, pathEnv: string | undefined, cwd: string | undefined): string {
  if (command.includes("/")) return isAbsolute(command) ? command : resolve(cwd ?? process.cwd(), command);
  for (const dir of (pathEnv ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, command);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  throw new PodplugError(
    "SECURE_CONFIG_INVALID",
    `error verifying checksum: exec: ${JSON.stringify(command)}: executable file not found in $PATH.`,
    { command },
  );
}

/** Hashes the executable at `path` and compares it with the expected checksum; throws CHECKSUM_MISMATCH if it differs. */
export async function checkExecutable(c: SecureConfig, path: string, plugin: string): Promise<void> {
  validateSecureConfig(c);
  const expected = expectedBytes(c);
  const h = createHash(c.hash.toLowerCase());
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (err) {
    throw new PodplugError(
      "SECURE_CONFIG_INVALID",
      `plugin ${plugin}: error verifying checksum: ${(err as Error).message}. The plugin was not started.`,
      { path },
      { cause: err },
    );
  }
  const actual = h.digest();
  // Constant time, as go-plugin's subtle.ConstantTimeCompare (lengths may differ: that is a mismatch too).
  const same = actual.length === expected.length && timingSafeEqual(actual, expected);
  if (!same)
    throw new PodplugError(
      "CHECKSUM_MISMATCH",
      `plugin ${plugin}: checksums did not match for ${path} (${c.hash} ${actual.toString("hex")}, expected ${expected.toString("hex")}). The plugin was not started: reinstall it, or update the expected checksum if the change is yours.`,
      { path, hash: c.hash, actual: actual.toString("hex"), expected: expected.toString("hex") },
    );
}
