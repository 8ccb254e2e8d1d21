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
