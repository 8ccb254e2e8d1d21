/**
 * The termination message of a plugin container that stops on a contract
 * error: one line `<CODE>: <sentence>` (at most 4096 bytes, the kubelet's
 * limit) in the file `PODPLUG_TERMINATION_LOG` names, else in
 * `/dev/termination-log` when it exists (the kubelet's default
 * terminationMessagePath). The kubelet copies it into the container's
 * `state.terminated.message`, where the operator reads the code and sets the
 * Plugin's Ready reason. The Go launcher writes the same line (sdk/launcher).
 */
import { existsSync, writeFileSync } from "node:fs";
import { TERMINATION_LOG_ENV, TERMINATION_LOG_PATH } from "../constants.ts";

/** The kubelet keeps at most this many bytes of a termination message. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;

/** The one line for `code` and `sentence`: newlines folded to spaces, cut to the byte limit on a character boundary. */
export function terminationLine(code: string, sentence: string): string {
  const line = `${code}: ${sentence.replace(/\s*\n\s*/g, " ").trim()}`;
  const bytes = Buffer.from(line, "utf8");
  if (bytes.length <= TERMINATION_MESSAGE_MAX_BYTES) return line;
  let end = TERMINATION_MESSAGE_MAX_BYTES;
  // Back off continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

/**
 * Writes the termination line; best effort (a plugin that stops anyway must
 * not fail on its last words). Returns the file written, if any.
 */
export function writeTerminationMessage(
  code: string,
  sentence: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const path = env[TERMINATION_LOG_ENV] || (existsSync(TERMINATION_LOG_PATH) ? TERMINATION_LOG_PATH : undefined);
  if (!path) return undefined;
  try {
    writeFileSync(path, terminationLine(code, sentence));
    return path;
  } catch {
    return undefined;
  }
}
