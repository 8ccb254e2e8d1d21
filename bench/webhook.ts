/**
 * Benchmark: what webhook mode adds to a Pod creation, on the real test
 * apiserver, beside a baseline measured in the same run.
 *   node bench/webhook.ts [N]          (default 300 Pods per phase)
 * The operator runs in webhook mode (its webhook reached by URL over
 * loopback) with one Plugin; N Pod creations (server-side dry-run, so nothing
 * is stored and the N are alike) are sent one after another by one client:
 *  - baseline: Pods no Plugin selects in a namespace the webhook does not
 *    cover (no webhook call at all);
 *  - skipped: Pods the webhook is called for but no Plugin selects;
 *  - injected: Pods a Plugin selects (the webhook answers with its patch).
 * For each: p50/p99 of the client's request time, and the webhook's own time
 * from its histogram (podplug_webhook_admission_duration_seconds, mean).
 * Prints a table; asserts nothing.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { TestCluster } from "../test/cluster/cluster.ts";
import { freePort } from "../test/cluster/ports.ts";
import { waitFor } from "../test/cluster/wait.ts";
import {
  createNamespace,
  installCrd,
  pluginManifest,
  startOperator,
  webhookConfiguration,
  yaml,
} from "../test/operator/helpers.ts";

const N = Math.min(5000, Number(process.argv[2] ?? 300) || 300);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const c = new TestCluster();
  await c.start();
  try {
    await installCrd(c);
    await createNamespace(c, "bench-wh");
    await createNamespace(c, "bench-plain");
    await createNamespace(c, "bench-system");
    const port = await freePort();
    await c.kubectlOk(
      ["apply", "-f", "-"],
      yaml(webhookConfiguration({ name: "podplug-bench", port, namespace: "bench-wh", reinvocation: true })),
    );
    await c.kubectlOk(["apply", "-n", "bench-wh", "-f", "-"], yaml(pluginManifest("kv")));
    const op = await startOperator(
      c,
      [
        "--leader-elect=false",
        "--watch-namespaces=bench-wh",
        "--injection-mode=webhook",
        `--webhook-bind-address=127.0.0.1:${port}`,
        "--webhook-cert-hosts=127.0.0.1",
        "--webhook-configuration-name=podplug-bench",
        "--leader-election-namespace=bench-system",
        "--log-level=warn",
      ],
      c.kubeconfig,
      "operator-bench-webhook",
    );
    await waitFor("the webhook ready", async () => (await fetch(`${op.healthUrl}/readyz`)).ok, 30_000, 100);
    const server = c.ctx.endpoints.get("apiserver")!;
    const agent = new Agent({
      ca: readFileSync(c.ctx.certs.caCert),
      cert: readFileSync(c.ctx.certs.adminCert),
      key: readFileSync(c.ctx.certs.adminKey),
      keepAlive: true,
      maxSockets: 1,
    });
    const create = (ns: string, labels: Record<string, string>, i: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `p${i}`, labels },
          spec: { automountServiceAccountToken: false, containers: [{ name: "host", image: "example/host:1" }] },
        });
        const t = process.hrtime.bigint();
        const req = request(
          `${server}/api/v1/namespaces/${ns}/pods?dryRun=All`,
          { method: "POST", agent, headers: { "Content-Type": "application/json" }, timeout: 10_000 },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode === 201
                ? resolve(Number(process.hrtime.bigint() - t) / 1e6)
                : reject(new Error(`HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end(body);
      });
    const webhookMean = async (outcome: string): Promise<{ sum: number; count: number }> => {
      const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
      const v = (s: string) => Number(new RegExp(`^${s}\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
      return {
        sum: v("podplug_webhook_admission_duration_seconds_sum"),
        count: v("podplug_webhook_admission_duration_seconds_count"),
      };
    };
    const phases: [string, string, Record<string, string>, string][] = [
      ["baseline (no webhook call)", "bench-plain", { app: "x" }, ""],
      ["webhook, no Plugin selects", "bench-wh", { app: "x" }, "skipped"],
      ["webhook, injected", "bench-wh", { "podplug.io/host": "kv" }, "injected"],
    ];
    // Warm-up: connections, the apiserver's caches, the webhook's TLS session.
    for (const [, ns, labels] of phases) for (let i = 0; i < 20; i++) await create(ns, labels, i);
    const rows: string[] = [];
    for (const [name, ns, labels, outcome] of phases) {
      const before = outcome ? await webhookMean(outcome) : { sum: 0, count: 0 };
      const times: number[] = [];
      for (let i = 0; i < N; i++) times.push(await create(ns, labels, i));
      const after = outcome ? await webhookMean(outcome) : { sum: 0, count: 0 };
      const inWebhook =
        after.count > before.count
          ? `${(((after.sum - before.sum) / (after.count - before.count)) * 1000).toFixed(3)} ms`
          : "-";
      rows.push(
        `| ${name} | ${N} | ${pct(times, 50).toFixed(2)} ms | ${pct(times, 99).toFixed(2)} ms | ${inWebhook} |`,
      );
    }
    console.log("| Pod create (dry-run) | n | p50 | p99 | in the webhook (mean) |\n|---|---|---|---|---|");
    for (const r of rows) console.log(r);
    agent.destroy();
    await op.stop();
  } finally {
    await c.stop();
  }
}

await main();
