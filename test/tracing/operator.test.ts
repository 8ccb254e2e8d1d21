/**
 * The operator's reconciles as spans (issue 17), read back from a real
 * Jaeger: an operator run with OTEL_* against the test apiserver reconciles
 * a Plugin and the workload it selects, and each reconcile is a span named
 * for its controller with the object it reconciled.
 */
import assert from "node:assert/strict";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  hostDeployment,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  startOperator,
  yaml,
} from "../operator/helpers.ts";
import { Jaeger, type JaegerSpan } from "./jaeger.ts";

const cluster = useSharedCluster();
const NS = "tracing-operator";

describe("tracing: the operator's reconciles as spans (a real Jaeger)", function () {
  this.timeout(180_000);
  let jaeger: Jaeger;
  let c: TestCluster;
  let op: OperatorHandle | undefined;
  before(async function () {
    this.timeout(180_000);
    jaeger = await Jaeger.start();
    c = await cluster();
    await installCrd(c);
    await createNamespace(c, NS);
  });
  after(async () => {
    await op?.stop();
    await jaeger?.stop();
  });

  it("a Plugin and its workload reconciled: one span per reconcile, named for the controller, with the object", async () => {
    op = await startOperator(c, ["--leader-elect=false", `--watch-namespaces=${NS}`], c.kubeconfig, "operator-traced", {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
      OTEL_SERVICE_NAME: "podplug-operator-traced",
      OTEL_BSP_SCHEDULE_DELAY: "50",
    });
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("traced", { selector: { matchLabels: { traced: "yes" } } }),
        hostDeployment("traced-host", { traced: "yes" }),
      ),
    );
    const tag = (s: JaegerSpan, k: string): unknown => s.tags.find((t) => t.key === k)?.value;
    const spans = await waitFor(
      "the Plugin's and the workload's reconcile spans in Jaeger",
      async () => {
        const all = (await jaeger.traces("podplug-operator-traced")).flatMap((t) => t.spans);
        const plugin = all.find(
          (s) => s.operationName === "reconcile plugin" && String(tag(s, "podplug.object")).includes("traced"),
        );
        const workload = all.find(
          (s) => s.operationName === "reconcile workload" && String(tag(s, "podplug.object")).includes("traced-host"),
        );
        return plugin && workload
          ? new Map([
              ["plugin", plugin],
              ["workload", workload],
            ])
          : undefined;
      },
      60_000,
      300,
    );
    const plugin = spans.get("plugin");
    const workload = spans.get("workload");
    assert.ok(plugin, "a span of the Plugin's reconcile");
    assert.ok(workload, "a span of the workload's reconcile");
    assert.equal(tag(plugin, "podplug.controller"), "plugin");
    assert.equal(tag(workload, "podplug.controller"), "workload");
    assert.match(String(tag(workload, "podplug.object")), new RegExp(`${NS}/traced-host`));
  });
});
