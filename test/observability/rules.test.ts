/**
 * The shipped Prometheus rules and dashboard, checked with the real promtool
 * and rendered by the real helm: `promtool check rules`, `promtool test rules`
 * (rules.test.yaml), mutations that each unit test must catch, every alert's
 * runbook in docs/observability.md, and the chart's PrometheusRule and
 * dashboard ConfigMap carrying exactly the repository's files.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { helmBinary } from "../cluster/binaries.ts";
import { runOk } from "../cluster/kubectl.ts";
import { ROOT, tempDir } from "../helpers.ts";
import { dashboardExpressions, documentedMetrics, metricNames } from "./dashboard.ts";
import { promtool } from "./prometheus.ts";

const RULES = join(ROOT, "charts/podplug/files/prometheus-rules.yaml");
const RULE_TESTS = join(ROOT, "test/observability/rules.test.yaml");
const DASHBOARD = join(ROOT, "charts/podplug/files/dashboard.json");
const DOC = join(ROOT, "docs/observability.md");

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const rules = (): RuleFile => parse(readFileSync(RULES, "utf8")) as RuleFile;
const alerts = (): Rule[] => rules().groups.flatMap((g) => g.rules.filter((r) => r.alert));

/** Runs the unit tests against `file` in place of the shipped rules (same relative layout). */
function testRulesWith(file: RuleFile): { code: number; out: string } {
  const t = tempDir("pp-rules-");
  try {
    mkdirSync(join(t.dir, "charts/podplug/files"), { recursive: true });
    mkdirSync(join(t.dir, "test/observability"), { recursive: true });
    writeFileSync(join(t.dir, "charts/podplug/files/prometheus-rules.yaml"), stringify(file));
    copyFileSync(RULE_TESTS, join(t.dir, "test/observability/rules.test.yaml"));
    return promtool(["test", "rules", join(t.dir, "test/observability/rules.test.yaml")]);
  } finally {
    t.remove();
  }
}

function mutated(name: string, change: (r: Rule) => void): RuleFile {
  const f = rules();
  for (const g of f.groups) for (const r of g.rules) if (r.alert === name || r.record === name) change(r);
  return f;
}

describe("observability: the shipped rules and dashboard", function () {
  this.timeout(120_000);

  it("promtool check rules accepts the rule file", () => {
    const r = promtool(["check", "rules", RULES]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: \d+ rules found/);
  });

  it("promtool test rules passes: every alert firing and not firing, the recording rules' values", () => {
    const r = promtool(["test", "rules", RULE_TESTS]);
    assert.equal(r.code, 0, r.out);
  });

  it("the unit tests cover every alert: one that never fires, or fires at once, fails them", () => {
    const names = alerts().map((a) => a.alert!);
    assert.ok(names.length >= 6);
    for (const name of names) {
      const never = testRulesWith(mutated(name, (r) => (r.expr = `(${r.expr}) and on() vector(0) == 1`)));
      assert.notEqual(never.code, 0, `${name} never firing went unnoticed`);
      assert.match(never.out, new RegExp(`alertname: ${name}`), `${name}: the failure names the alert`);
      const early = testRulesWith(mutated(name, (r) => delete r.for));
      assert.notEqual(early.code, 0, `${name} firing without its 'for' went unnoticed`);
    }
  });

  it("a recording rule with a wrong expression fails the unit tests", () => {
    const r = testRulesWith(
      mutated("podplug:plugin_call_errors:ratio_rate5m", (x) => (x.expr = x.expr.replace('code!="OK"', 'code="OK"'))),
    );
    assert.notEqual(r.code, 0);
  });

  it("promtool refuses a broken rule file with the line at fault", () => {
    const t = tempDir("pp-rules-");
    try {
      const bad = join(t.dir, "bad.yaml");
      writeFileSync(bad, "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n");
      const r = promtool(["check", "rules", bad]);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /Broken|parse error|unclosed/i);
    } finally {
      t.remove();
    }
  });

  it("every alert has a severity, a summary, a description and a runbook section in docs/observability.md", () => {
    const doc = readFileSync(DOC, "utf8");
    for (const a of alerts()) {
      assert.match(a.labels?.severity ?? "", /^(warning|critical)$/, `${a.alert}: severity`);
      assert.ok(a.annotations?.summary && a.annotations.description, `${a.alert}: summary and description`);
      const anchor = a.alert!.toLowerCase();
      assert.equal(
        a.annotations?.runbook_url?.endsWith(`docs/observability.md#${anchor}`),
        true,
        `${a.alert}: runbook_url`,
      );
      assert.match(doc, new RegExp(`^### ${a.alert}$`, "m"), `${a.alert}: a runbook heading in docs/observability.md`);
    }
  });

  it("the dashboard is valid Grafana JSON with a Prometheus data source variable, and every panel has PromQL", () => {
    const d = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
      uid: string;
      templating: { list: { name: string; type: string }[] };
      panels: { type: string; title: string; targets?: { expr: string; refId: string }[] }[];
    };
    assert.equal(d.uid, "podplug-overview");
    assert.ok(d.templating.list.some((v) => v.name === "datasource" && v.type === "datasource"));
    const graphs = d.panels.filter((p) => p.type !== "row");
    assert.ok(graphs.length >= 12);
    for (const p of graphs) assert.ok(p.targets?.length && p.targets.every((t) => t.expr && t.refId), p.title);
  });

  it("every metric a dashboard panel or a rule reads is one docs/observability.md lists as exported (or a recording rule, or Prometheus's own)", () => {
    const documented = documentedMetrics(readFileSync(DOC, "utf8"));
    const recorded = new Set(rules().groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
    const own = new Set(["up", "ALERTS", "ALERTS_FOR_STATE"]);
    assert.ok(
      documented.has("podplug_host_calls_total") && documented.has("workqueue_depth"),
      "the doc's tables parse",
    );
    const reads = [
      ...dashboardExpressions().map((e) => ({ where: `dashboard panel "${e.panel}"`, expr: e.expr })),
      ...rules().groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr }))),
    ];
    const unknown = reads.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((n) => !documented.has(n) && !recorded.has(n) && !own.has(n))
        .map((n) => `${where}: ${n}`),
    );
    assert.deepEqual(unknown, []);
  });

  it("metricNames finds the metrics of an expression, not its functions, labels or groupings", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (plugin, le) (rate(podplug_host_call_duration_seconds_bucket{namespace=~"a|b",code!="OK"}[5m]))) / on(plugin) group_left up',
      ),
      ["podplug_host_call_duration_seconds", "up"],
    );
    assert.deepEqual(metricNames('absent(up{job="x"} == 1) or vector(0)'), ["up"]);
    // A panel renamed to a metric nobody exports is caught.
    assert.deepEqual(metricNames("sum(rate(podplug_calls_total[1m]))"), ["podplug_calls_total"]);
  });

  describe("the chart", () => {
    const render = async (args: string[]): Promise<{ kind: string; [k: string]: unknown }[]> => {
      const out = await runOk(helmBinary(), ["template", "podplug", join(ROOT, "charts/podplug"), ...args], {
        env: { ...process.env, HELM_CACHE_HOME: "/tmp/helm-cache", HELM_CONFIG_HOME: "/tmp/helm-config" },
      });
      return parseAllDocuments(out)
        .map((x) => x.toJSON() as { kind: string })
        .filter(Boolean);
    };

    it("renders neither a PrometheusRule nor a dashboard by default", async () => {
      const kinds = (await render([])).map((m) => m.kind);
      assert.ok(!kinds.includes("PrometheusRule"));
      assert.ok(
        !(await render([])).some((m) => m.kind === "ConfigMap" && JSON.stringify(m).includes("grafana_dashboard")),
      );
    });

    it("renders the PrometheusRule with exactly the rule file's groups, and the dashboard ConfigMap with the JSON file", async () => {
      const ms = await render(["--set", "prometheusRule.enabled=true", "--set", "dashboard.enabled=true"]);
      const pr = ms.find((m) => m.kind === "PrometheusRule") as unknown as { spec: RuleFile };
      assert.deepEqual(pr.spec.groups, rules().groups);
      const cm = ms.find((m) => m.kind === "ConfigMap") as unknown as {
        metadata: { labels: Record<string, string> };
        data: Record<string, string>;
      };
      assert.equal(cm.metadata.labels.grafana_dashboard, "1");
      assert.deepEqual(JSON.parse(cm.data["podplug.json"]!), JSON.parse(readFileSync(DASHBOARD, "utf8")));
    });

    it("the ServiceMonitor names the job the rules and the dashboard select on", async () => {
      const sm = (await render(["--set", "serviceMonitor.enabled=true"])).find(
        (m) => m.kind === "ServiceMonitor",
      ) as unknown as {
        spec: { endpoints: { relabelings: { targetLabel: string; replacement: string }[] }[] };
      };
      assert.deepEqual(sm.spec.endpoints[0]!.relabelings, [{ targetLabel: "job", replacement: "podplug-operator" }]);
      for (const a of alerts().filter((x) => x.alert!.startsWith("PodplugOperator")))
        assert.match(a.expr, /job="podplug-operator"/, a.alert);
    });
  });
});
