/** Polling helpers for the harness and the tests. */
import { HarnessError } from "./errors.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every `intervalMs` until it returns a value other than
 * undefined/false; throws CLUSTER_NOT_READY naming `what` on timeout.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      // A dead process will not become ready: say so at once.
      if ((err as { code?: string }).code === "CLUSTER_START_FAILED") throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new HarnessError(
        "CLUSTER_NOT_READY",
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message ?? String(last)})` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}
