/**
 * The time one agent check may take. The kubelet gives an httpGet probe
 * `timeoutSeconds` for the whole request; a check that outlives it is seen as
 * "context deadline exceeded" and its reason is lost. So the injection writes
 * each probe's budget into its path (`?timeoutMs=`), derived from the same
 * probe's timeoutSeconds, and the agent answers within it.
 */
import { AGENT_BUDGET_PARAM } from "../constants.ts";

/** Smallest margin left to the kubelet's side of a probe (connect, request, response). */
const MIN_MARGIN_MS = 200;
/** Longest budget the agent accepts from a probe path. */
export const MAX_BUDGET_MS = 60_000;
/** The agent's budget when a probe path gives none: inside the kubelet's default 1 s probe timeout. */
export const DEFAULT_BUDGET_MS = checkBudgetMs(1);

/** The check budget for a probe of `timeoutSeconds`: 80 % of it, leaving at least 200 ms. */
export function checkBudgetMs(timeoutSeconds: number): number {
  const ms = timeoutSeconds * 1000;
  return Math.max(1, Math.min(Math.round(ms * 0.8), ms - MIN_MARGIN_MS));
}

/** The probe path with its budget: `/livez/kv?timeoutMs=800`. */
export function budgetedPath(path: string, timeoutSeconds: number): string {
  return `${path}?${AGENT_BUDGET_PARAM}=${checkBudgetMs(timeoutSeconds)}`;
}

/** The budget a request asks for, `fallback` without one, undefined when the value is not 1..60000 ms. */
export function requestBudgetMs(query: URLSearchParams, fallback: number): number | undefined {
  const raw = query.get(AGENT_BUDGET_PARAM);
  if (raw === null) return fallback;
  if (!/^\d{1,5}$/.test(raw)) return undefined;
  const ms = Number(raw);
  return ms >= 1 && ms <= MAX_BUDGET_MS ? ms : undefined;
}
