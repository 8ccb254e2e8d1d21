/** The shipped Grafana dashboard's panels and PromQL, as a user's Grafana fills its variables. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

export const DASHBOARD = join(ROOT, "charts/podplug/files/dashboard.json");

/** One panel target: its panel's title, the PromQL with Grafana's variables filled, and its legend format. */
export interface DashboardTarget {
  panel: string;
  expr: string;
  legend: string;
  unit: string;
}

/** Every panel target, `$__rate_interval` as 1m, `$__range` as `range`, `$namespace` as all. */
export function dashboardExpressions(file = DASHBOARD, range = "5m"): DashboardTarget[] {
  const d = JSON.parse(readFileSync(file, "utf8")) as {
    panels: {
      title: string;
      fieldConfig?: { defaults?: { unit?: string } };
      targets?: { expr: string; legendFormat?: string }[];
    }[];
  };
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$__range", range)
        .replaceAll('=~"$namespace"', '=~".*"'),
      legend: t.legendFormat ?? "",
      unit: p.fieldConfig?.defaults?.unit ?? "",
    })),
  );
}

/** PromQL's functions, aggregations and keywords: identifiers that are not metric names. */
const PROMQL_WORDS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "group",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "vector",
  "scalar",
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "changes",
  "resets",
  "abs",
  "absent",
  "absent_over_time",
  "clamp_min",
  "clamp_max",
  "histogram_quantile",
  "label_replace",
  "label_join",
  "max_over_time",
  "min_over_time",
  "avg_over_time",
  "sum_over_time",
  "count_over_time",
  "last_over_time",
  "time",
  "timestamp",
  "round",
  "sort",
  "sort_desc",
]);

/**
 * The metric names an expression reads: identifiers outside label matchers,
 * grouping clauses, strings and ranges, less PromQL's own words; a
 * histogram's `_bucket`/`_sum`/`_count` series count as the histogram.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, " ");
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const w = m[0];
    if (PROMQL_WORDS.has(w) || /^(e|inf|nan)$/i.test(w)) continue;
    names.add(w.replace(/_(bucket|sum|count)$/, ""));
  }
  return [...names].sort();
}

/** Every backticked metric name in the tables of docs/observability.md ("`a`, `b`" cells included). */
export function documentedMetrics(doc: string): Set<string> {
  const out = new Set<string>();
  for (const line of doc.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const first = line.split("|")[1] ?? "";
    for (const m of first.matchAll(/`([a-zA-Z_:][a-zA-Z0-9_:]*)`/g)) out.add(m[1]!);
  }
  return out;
}
