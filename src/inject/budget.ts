/**
 * The time one probe's health check may take. The kubelet gives a probe
 * `timeoutSeconds` for the whole exec (start of the probe binary, dial,
 * Check); a check that outlives it is seen as "command timed out" and its
 * reason is lost. So the injection passes each probe's budget to
 * `podplug-launcher probe -timeout`, derived from the same probe's
 * timeoutSeconds, and the probe answers within it.
 */

/** Smallest margin left to the kubelet's side of a probe (fork, exec, reading the output). */
const MIN_MARGIN_MS = 200;

/** The check budget for a probe of `timeoutSeconds`: 80 % of it, leaving at least 200 ms. */
export function checkBudgetMs(timeoutSeconds: number): number {
  const ms = timeoutSeconds * 1000;
  return Math.max(1, Math.min(Math.round(ms * 0.8), ms - MIN_MARGIN_MS));
}
