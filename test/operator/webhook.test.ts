/**
 * Webhook mode against the real kube-apiserver: the apiserver calls the
 * operator's webhook over loopback (a URL clientConfig, since the test
 * cluster has no Services' endpoints), with the CA bundle the operator
 * patched in. Pods are injected at creation exactly as injectPod() says
 * (what `podplug inject` prints), templates are never touched, refusals and
 * bad requests get coded answers, the watchdog reports Pods let through while
 * the webhook was down, and a renewed certificate is served without a restart.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type { V1Pod } from "@kubernetes/client-node";
import { generateCa, generateServing } from "../../operator/webhook/certs.ts";
import { injectPod } from "../../operator/webhook/pod-injection.ts";
import type { Plugin } from "../../src/inject/types.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { run } from "../cluster/kubectl.ts";
import { freePort } from "../cluster/ports.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  hostDeployment,
  httpsLoopback,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  ROOT,
  startOperator,
  webhookConfiguration,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "wh";
const SYSTEM = "wh-system";
const CONFIG = "podplug-webhook-test";
const SECRET = "podplug-webhook-tls";
const AGENT = "example/podplug:1";

function pod(name: string, labels: Record<string, string>, extra: Record<string, unknown> = {}, container = "host") {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels, ...extra },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: container, image: "example/host:1" }],
    },
  };
}

async function getPod(c: TestCluster, name: string): Promise<V1Pod> {
  const p = await getJson<V1Pod>(c, ["-n", NS, "pod", name]);
  assert.ok(p, `pod ${name} exists`);
  return p;
}

const initNames = (p: V1Pod): string[] => (p.spec?.initContainers ?? []).map((c) => c.name);

/** POSTs `body` to the webhook with `headers`; resolves with status and text. Trusts any certificate (the CA is the operator's). */
const post = (
  port: number,
  body: string | Buffer,
  headers: Record<string, string> = { "Content-Type": "application/json" },
  method = "POST",
): Promise<{ status: number; text: string }> => httpsLoopback(port, body, { path: "/inject", method, headers });

/** The PEM certificate the webhook serves right now. */
function servedCert(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" }, () => {
      const der = s.getPeerCertificate().raw;
      s.end();
      resolve(der.toString("base64"));
    });
    s.on("error", reject);
  });
}

const secretCert = async (c: TestCluster, key = "tls.crt"): Promise<string> => {
  const s = await getJson<{ data: Record<string, string> }>(c, ["-n", SYSTEM, "secret", SECRET]);
  return Buffer.from(s?.data[key] ?? "", "base64").toString("utf8");
};

const pemToDerB64 = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, "");

describe("webhook mode against the real apiserver", function () {
  this.timeout(120_000);
  let c: TestCluster;
  let op: OperatorHandle | undefined;
  let port = 0;
  const args = (): string[] => [
    "--leader-elect=false",
    `--watch-namespaces=${NS}`,
    "--injection-mode=webhook",
    `--webhook-bind-address=127.0.0.1:${port}`,
    "--webhook-cert-hosts=127.0.0.1,localhost",
    `--webhook-configuration-name=${CONFIG}`,
    `--leader-election-namespace=${SYSTEM}`,
    `--launcher-image=${AGENT}`,
    "--watchdog-period-seconds=1",
    "--webhook-cert-validity-seconds=60",
    "--webhook-max-request-bytes=65536",
  ];

  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await installCrd(c);
    await createNamespace(c, NS);
    await createNamespace(c, SYSTEM);
    port = await freePort();
    await c.kubectlOk(
      ["apply", "-f", "-"],
      yaml(webhookConfiguration({ name: CONFIG, port, namespace: NS, reinvocation: true })),
    );
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("kv")));
    op = await startOperator(c, args(), c.kubeconfig, "operator-webhook");
    await waitFor("the webhook ready", async () => (await fetch(`${op!.healthUrl}/readyz`)).ok, 30_000, 100);
  });
  after(async () => {
    await op?.stop();
  });

  it("keeps its CA and serving certificate in a Secret and patches the CA into the webhook configuration", async () => {
    const ca = await secretCert(c, "ca.crt");
    assert.match(ca, /BEGIN CERTIFICATE/);
    assert.match(await secretCert(c, "ca.key"), /BEGIN PRIVATE KEY/);
    const cfg = await getJson<{ webhooks: { clientConfig: { caBundle: string } }[] }>(c, [
      "mutatingwebhookconfiguration",
      CONFIG,
    ]);
    assert.equal(Buffer.from(cfg!.webhooks[0]!.clientConfig.caBundle, "base64").toString("utf8"), ca);
    assert.equal(await servedCert(port), pemToDerB64(await secretCert(c)));
  });

  it("injects a bare Pod at creation exactly as injectPod() (and so `podplug inject`) computes", async () => {
    const manifest = pod("bare", { "podplug.io/host": "kv" });
    await c.kubectlOk(["create", "-f", "-"], yaml(manifest));
    const got = await getPod(c, "bare");
    assert.deepEqual(initNames(got), ["podplug-launcher", "podplug-kv"]);
    assert.equal(got.metadata?.annotations?.["podplug.io/plugins"], "kv");
    assert.equal(got.metadata?.labels?.["podplug.io/injected"], "true");
    const plugin = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
    const want = injectPod(manifest as V1Pod, NS, [plugin!], { launcherImage: AGENT });
    assert.ok(want.injected);
    // What the apiserver stored is the dry-run's injection (the apiserver only adds defaults on top).
    assert.deepEqual(
      got.spec?.initContainers?.map((x) => [x.name, x.image, x.env, x.restartPolicy]),
      want.pod.spec?.initContainers?.map((x) => [x.name, x.image, x.env, x.restartPolicy]),
    );
    assert.deepEqual(
      got.spec?.volumes?.map((v) => v.name),
      want.pod.spec?.volumes?.map((v) => v.name),
    );
    assert.deepEqual(got.spec?.containers[0]?.env, want.pod.spec?.containers[0]?.env);
  });

  it("`podplug inject` prints the Pod the webhook stored (same containers, env, volumes, labels, annotations)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podplug-inject-"));
    try {
      const plugin = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
      writeFileSync(join(dir, "pod.yaml"), yaml(pod("dry", { "podplug.io/host": "kv" })));
      writeFileSync(
        join(dir, "plugins.yaml"),
        yaml({
          apiVersion: plugin!.apiVersion,
          kind: "Plugin",
          metadata: { name: "kv", namespace: NS },
          spec: plugin!.spec,
        }),
      );
      const r = await run(process.execPath, [
        join(ROOT, "src/cli/main.ts"),
        "inject",
        "-f",
        join(dir, "pod.yaml"),
        "-p",
        join(dir, "plugins.yaml"),
        `--launcher-image=${AGENT}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const { parse } = await import("yaml");
      const dry = parse(r.stdout) as V1Pod;
      await c.kubectlOk(["create", "-f", "-"], yaml(pod("dry", { "podplug.io/host": "kv" })));
      const got = await getPod(c, "dry");
      const view = (p: V1Pod) => ({
        labels: p.metadata?.labels,
        annotations: p.metadata?.annotations,
        init: p.spec?.initContainers?.map((x) => [
          x.name,
          x.image,
          x.env,
          x.volumeMounts,
          x.restartPolicy,
          x.securityContext,
        ]),
        host: p.spec?.containers.map((x) => [x.name, x.env, x.volumeMounts]),
        volumes: p.spec?.volumes?.map((v) => v.name),
      });
      assert.deepEqual(view(got), view(dry));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves a selected Deployment's template and generation untouched (no template patch, so no second ReplicaSet)", async () => {
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(hostDeployment("web", { "podplug.io/host": "kv" })));
    const before = await getJson<{ metadata: { generation: number; resourceVersion: string }; spec: unknown }>(c, [
      "-n",
      NS,
      "deployment",
      "web",
    ]);
    // Two watchdog periods and a Plugin change: the operator had every chance to patch it.
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("kv", { env: [{ name: "CHANGED", value: "1" }] })),
    );
    await new Promise((r) => setTimeout(r, 2500));
    const after = await getJson<typeof before>(c, ["-n", NS, "deployment", "web"]);
    assert.equal(after!.metadata.generation, 1);
    assert.equal(after!.metadata.resourceVersion, before!.metadata.resourceVersion);
    assert.deepEqual(after!.spec, before!.spec);
  });

  it("skips Pods that opt out by annotation or that no Plugin selects", async () => {
    await c.kubectlOk(
      ["create", "-f", "-"],
      yaml(pod("optout", { "podplug.io/host": "kv" }, { annotations: { "podplug.io/inject": "false" } })),
    );
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("plain", { app: "other" })));
    assert.deepEqual(initNames(await getPod(c, "optout")), []);
    assert.deepEqual(initNames(await getPod(c, "plain")), []);
  });

  it("counts in the Plugin's status the live Pods that carry its sidecar, by what runs them, not templates", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("cnt", { selector: { matchLabels: { count: "yes" } } }),
        hostDeployment("cnt-web", { count: "yes" }),
      ),
    );
    await waitFor("the webhook knows Plugin cnt", async () => {
      await c.kubectl(["-n", NS, "delete", "pod", "cnt-probe", "--wait=false", "--ignore-not-found"]);
      await c.kubectlOk(["create", "-f", "-"], yaml(pod("cnt-probe", { count: "yes" })));
      const ok = initNames(await getPod(c, "cnt-probe")).includes("podplug-cnt");
      await c.kubectlOk(["-n", NS, "delete", "pod", "cnt-probe", "--wait=false"]);
      return ok;
    });
    const job = { apiVersion: "batch/v1", kind: "Job", name: "cnt-job", uid: randomUUID(), controller: true };
    await c.kubectlOk(
      ["create", "-f", "-"],
      yaml(pod("cnt-a", { count: "yes" }), pod("cnt-b", { count: "yes" }, { ownerReferences: [job] })),
    );
    type Status = NonNullable<Plugin["status"]>;
    const status = (want: (s: Status) => boolean, what: string): Promise<Status> =>
      waitFor(
        what,
        async () => {
          const s = (await getJson<Plugin>(c, ["-n", NS, "plugin", "cnt"]))?.status;
          return s && want(s) ? s : undefined;
        },
        30_000,
        250,
      );
    const cond = (s: Status, type: string): string => {
      const x = s.conditions?.find((k) => k.type === type);
      return `${x?.status}/${x?.reason}`;
    };
    // The Deployment cnt-web is selected but its template is never injected: it does not count.
    let s = await status((x) => x.podCount === 2, "two pods counted");
    assert.deepEqual(s.workloads, [
      { kind: "Job", name: "cnt-job", ready: false, pods: 1 },
      { kind: "Pod", name: "cnt-a", ready: false, pods: 1 },
    ]);
    assert.equal(s.workloadCount, 2);
    assert.equal(s.readyPodCount, 0);
    assert.equal(cond(s, "Injected"), "True/Injected");
    assert.equal(cond(s, "Ready"), "False/PodsNotReady");
    // The kubelet's part, written as it writes it: cnt-a becomes Ready, the Job's pod finishes.
    const patchStatus = (name: string, st: unknown) =>
      c.kubectlOk(["-n", NS, "patch", "pod", name, "--subresource=status", "--type=merge", "-p", JSON.stringify(st)]);
    await patchStatus("cnt-a", {
      status: { conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() }] },
    });
    s = await status((x) => x.readyPodCount === 1, "cnt-a ready");
    assert.equal(s.podCount, 2);
    assert.equal(s.readyWorkloadCount, 1);
    await patchStatus("cnt-b", { status: { phase: "Succeeded" } });
    s = await status((x) => x.podCount === 1, "the finished pod no longer counts");
    assert.deepEqual(s.workloads, [{ kind: "Pod", name: "cnt-a", ready: true, pods: 1 }]);
    assert.equal(cond(s, "Ready"), "True/Ready");
    // A Pod gone: none left, and the status says so (not a template's NoWorkloads).
    await c.kubectlOk(["-n", NS, "delete", "pod", "cnt-a", "cnt-b", "--grace-period=0", "--force", "--wait=true"]);
    s = await status((x) => x.podCount === 0, "no pod left");
    assert.equal(cond(s, "Injected"), "False/NoPods");
    assert.deepEqual(s.workloads ?? [], []);
  });

  it("leaves out a Plugin the Pod's podplug.io/plugin-versions refuses, and says so in a warning kubectl prints", async () => {
    const r = await c.kubectl(
      ["create", "-f", "-"],
      yaml(
        pod("versioned", { "podplug.io/host": "kv" }, { annotations: { "podplug.io/plugin-versions": "kv=^1.0.0" } }),
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Warning: podplug did not inject: .*workload accepts plugin kv at versions \^1\.0\.0, but the Plugin declares no spec\.version/,
    );
    assert.deepEqual(initNames(await getPod(c, "versioned")), []);
  });

  it("refuses a Pod the injection cannot take, with the injection's code", async () => {
    const r = await c.kubectl(["create", "-f", "-"], yaml(pod("clash", { "podplug.io/host": "kv" }, {}, "podplug-kv")));
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /denied the request: podplug cannot inject this Pod: .*podplug-kv.*\[INJECT_NAME_CONFLICT\]/,
    );
  });

  it("answers bad requests with coded HTTP errors and keeps serving", async () => {
    const garbage = await post(port, "{not json");
    assert.equal(garbage.status, 400);
    assert.match(garbage.text, /not JSON.*\[WEBHOOK_BAD_REQUEST\]/);
    const v1beta1 = await post(
      port,
      JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview" }),
    );
    assert.equal(v1beta1.status, 400);
    assert.match(v1beta1.text, /admission\.k8s\.io\/v1 only.*\[WEBHOOK_BAD_REQUEST\]/);
    const noUid = await post(
      port,
      JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {} }),
    );
    assert.match(noUid.text, /request\.uid is missing/);
    const notPod = await post(
      port,
      JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid: "u1",
          kind: { group: "", version: "v1", kind: "Pod" },
          operation: "CREATE",
          object: { spec: 3 },
        },
      }),
    );
    assert.equal(notPod.status, 400);
    assert.match(notPod.text, /not a Pod with spec\.containers/);
    const deployment = await post(
      port,
      JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid: "u2",
          kind: { group: "apps", version: "v1", kind: "Deployment" },
          operation: "CREATE",
          object: {},
        },
      }),
    );
    assert.equal(deployment.status, 200);
    const answer = JSON.parse(deployment.text) as {
      response: { uid: string; allowed: boolean; patch?: string; warnings: string[] };
    };
    assert.equal(answer.response.uid, "u2");
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.match(answer.response.warnings[0]!, /only at Pod CREATE.*apps\/v1 Deployment/);
    const big = await post(port, Buffer.alloc(70_000, 0x20));
    assert.equal(big.status, 413);
    assert.match(big.text, /above the webhook's limit of 65536.*\[WEBHOOK_TOO_LARGE\]/);
    const text = await post(port, "x", { "Content-Type": "text/plain" });
    assert.equal(text.status, 415);
    const get = await post(port, "", {}, "GET");
    assert.equal(get.status, 405);
    // Still injecting.
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("after-garbage", { "podplug.io/host": "kv" })));
    assert.deepEqual(initNames(await getPod(c, "after-garbage")), ["podplug-launcher", "podplug-kv"]);
  });

  it("serves a renewed certificate without a restart when the one in the Secret nears its end", async () => {
    const ca = { certPem: await secretCert(c, "ca.crt"), keyPem: await secretCert(c, "ca.key") };
    // A serving certificate with 10 s left of a 60 s validity: less than a third, so the next sync renews it.
    const short = await generateServing(ca, ["localhost"], ["127.0.0.1"], 10_000);
    await c.kubectlOk([
      "-n",
      SYSTEM,
      "patch",
      "secret",
      SECRET,
      "--type=merge",
      "-p",
      JSON.stringify({
        data: {
          "tls.crt": Buffer.from(short.certPem).toString("base64"),
          "tls.key": Buffer.from(short.keyPem).toString("base64"),
        },
      }),
    ]);
    const renewed = await waitFor(
      "a renewed serving certificate in the Secret",
      async () => {
        const now = await secretCert(c);
        return now !== short.certPem && now !== "" ? now : undefined;
      },
      30_000,
      500,
    );
    assert.equal(await secretCert(c, "ca.crt"), ca.certPem, "the CA stays");
    await waitFor("the webhook serving it", async () => (await servedCert(port)) === pemToDerB64(renewed), 15_000, 200);
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("after-renewal", { "podplug.io/host": "kv" })));
    assert.deepEqual(initNames(await getPod(c, "after-renewal")), ["podplug-launcher", "podplug-kv"]);
  });

  it("replaces a CA near its end, keeps the old one in the bundle meanwhile, and the apiserver keeps calling", async () => {
    // 40 s left of a CA whose configured life is 600 s (10 x 60 s): under a third, so the next sync replaces it.
    const oldCa = await generateCa("old-ca", 40_000);
    const leaf = await generateServing(oldCa, ["localhost"], ["127.0.0.1"], 60_000);
    const b64 = (x: string) => Buffer.from(x).toString("base64");
    await c.kubectlOk([
      "-n",
      SYSTEM,
      "patch",
      "secret",
      SECRET,
      "--type=merge",
      "-p",
      JSON.stringify({
        data: {
          "ca.crt": b64(oldCa.certPem),
          "ca.key": b64(oldCa.keyPem),
          "tls.crt": b64(leaf.certPem),
          "tls.key": b64(leaf.keyPem),
        },
      }),
    ]);
    const bundle = await waitFor(
      "a new CA in front of the old one in ca.crt",
      async () => {
        const now = await secretCert(c, "ca.crt");
        const certs = now.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
        return certs.length === 2 && now.endsWith(oldCa.certPem) ? now : undefined;
      },
      30_000,
      500,
    );
    await waitFor(
      "the webhook configuration trusting both",
      async () => {
        const cfg = await getJson<{ webhooks: { clientConfig: { caBundle: string } }[] }>(c, [
          "mutatingwebhookconfiguration",
          CONFIG,
        ]);
        return Buffer.from(cfg!.webhooks[0]!.clientConfig.caBundle, "base64").toString("utf8") === bundle;
      },
      15_000,
      200,
    );
    const served = await secretCert(c);
    assert.notEqual(served, leaf.certPem, "the serving certificate is re-issued by the new CA");
    const { X509Certificate } = await import("node:crypto");
    const newCa = new X509Certificate(bundle.slice(0, bundle.indexOf("-----END CERTIFICATE-----") + 25));
    assert.ok(new X509Certificate(served).verify(newCa.publicKey), "signed by the new CA");
    await waitFor("the webhook serving it", async () => (await servedCert(port)) === pemToDerB64(served), 15_000, 200);
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("after-ca-rotation", { "podplug.io/host": "kv" })));
    assert.deepEqual(initNames(await getPod(c, "after-ca-rotation")), ["podplug-launcher", "podplug-kv"]);
  });

  it("with the webhook down: failurePolicy Fail refuses the Pod; Ignore lets it through and the watchdog reports it", async () => {
    await op!.stop();
    op = undefined;
    const refused = await c.kubectl(["create", "-f", "-"], yaml(pod("while-down", { "podplug.io/host": "kv" })));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /failed calling webhook "inject\.podplug\.io"/);
    const cfg = webhookConfiguration({
      name: CONFIG,
      port,
      namespace: NS,
      failurePolicy: "Ignore",
      reinvocation: true,
    }) as { webhooks: { clientConfig: Record<string, string> }[] };
    const bundle = await getJson<{ webhooks: { clientConfig: { caBundle: string } }[] }>(c, [
      "mutatingwebhookconfiguration",
      CONFIG,
    ]);
    cfg.webhooks[0]!.clientConfig.caBundle = bundle!.webhooks[0]!.clientConfig.caBundle;
    await c.kubectlOk(["apply", "-f", "-"], yaml(cfg));
    await c.kubectlOk(["create", "-f", "-"], yaml(pod("while-down", { "podplug.io/host": "kv" })));
    assert.deepEqual(initNames(await getPod(c, "while-down")), [], "let through uninjected");
    op = await startOperator(c, args(), c.kubeconfig, "operator-webhook-2");
    const cond = await waitFor(
      "the SidecarsInjected=False condition",
      async () => {
        const p = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
        return p?.status?.conditions?.find((x) => x.type === "SidecarsInjected" && x.status === "False");
      },
      30_000,
      500,
    );
    assert.equal(cond.reason, "PodsWithoutSidecar");
    assert.match(cond.message, /1 pod\(s\) .* without sidecar podplug-kv: while-down\./);
    const events = await c.kubectlOk([
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      "involvedObject.kind=Plugin,involvedObject.name=kv,reason=SidecarMissing",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(events, /while-down/);
    // Once the pod is gone, the condition clears.
    await c.kubectlOk(["-n", NS, "delete", "pod", "while-down", "--wait=false"]);
    await waitFor(
      "SidecarsInjected=True",
      async () => {
        const p = await getJson<Plugin>(c, ["-n", NS, "plugin", "kv"]);
        return p?.status?.conditions?.some((x) => x.type === "SidecarsInjected" && x.status === "True");
      },
      30_000,
      500,
    );
  });
});

describe("podplug inject (no cluster)", () => {
  const cli = (args: string[], stdin?: string) =>
    run(process.execPath, [join(ROOT, "src/cli/main.ts"), "inject", ...args], { stdin });

  it("injects the pod templates of a Job, a CronJob and a Deployment from stdin, and prints other documents as they are", async () => {
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "j" },
      spec: {
        template: {
          metadata: { labels: { app: "web" } },
          spec: { restartPolicy: "Never", containers: [{ name: "host", image: "h" }] },
        },
      },
    };
    const cron = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "cj" },
      spec: { schedule: "@daily", jobTemplate: { spec: job.spec } },
    };
    const svc = { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ port: 80 }] } };
    const r = await cli(
      ["-f", "-"],
      yaml(
        pluginManifest("kv", { selector: { matchLabels: { app: "web" } } }),
        job,
        cron,
        hostDeployment("web", {}),
        svc,
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    const { parseAllDocuments } = await import("yaml");
    type T = { spec: { initContainers?: { name: string }[] } };
    type D = { kind: string; spec: { template: T; jobTemplate: { spec: { template: T } } } };
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as D);
    assert.deepEqual(
      docs.map((d) => d.kind),
      ["Plugin", "Job", "CronJob", "Deployment", "Service"],
    );
    const names = (t: T) => (t.spec.initContainers ?? []).map((x) => x.name);
    assert.deepEqual(names(docs[1]!.spec.template), ["podplug-launcher", "podplug-kv"]);
    assert.deepEqual(names(docs[2]!.spec.jobTemplate.spec.template), ["podplug-launcher", "podplug-kv"]);
    // hostDeployment's template is labelled app: web too: selected by the Pod's labels, not the Deployment's.
    assert.deepEqual(names(docs[3]!.spec.template), ["podplug-launcher", "podplug-kv"]);
    assert.deepEqual(docs[4], svc);
  });

  it("refuses what it cannot read or inject, with the code and the file", async () => {
    const missing = await cli(["-f", "/nonexistent/deploy.yaml"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /\/nonexistent\/deploy\.yaml: no such file or folder \[MANIFEST_INVALID\]/);
    const notYaml = await cli(["-f", "-"], ": : :");
    assert.equal(notYaml.code, 2);
    assert.match(notYaml.stderr, /<stdin>: not YAML.*/);
    const noTemplate = await cli(
      ["-f", "-"],
      yaml({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: {} }),
    );
    assert.equal(noTemplate.code, 2);
    assert.match(noTemplate.stderr, /<stdin>: Job j: no spec\.template\.spec \[MANIFEST_INVALID\]/);
    const clash = await cli(
      ["-f", "-"],
      yaml(pluginManifest("kv", { selector: { matchLabels: { app: "web" } } }), {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", labels: { app: "web" } },
        spec: { containers: [{ name: "podplug-kv", image: "h" }] },
      }),
    );
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /<stdin>: Pod p: .*\[INJECT_NAME_CONFLICT\]/);
    const usage = await cli([]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give at least one -f .*\[CLI_USAGE\]/);
  });
});

describe("webhook certificates", () => {
  it("a serving certificate names its DNS names and IPs and verifies against its CA", async () => {
    const { X509Certificate } = await import("node:crypto");
    const ca = await generateCa("test-ca", 3_600_000);
    const leaf = await generateServing(ca, ["svc.ns.svc"], ["127.0.0.1"], 60_000);
    const x = new X509Certificate(leaf.certPem);
    assert.match(x.subjectAltName ?? "", /DNS:svc\.ns\.svc/);
    assert.match(x.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey));
    assert.equal(new X509Certificate(ca.certPem).ca, true);
    await assert.rejects(
      generateServing({ certPem: ca.certPem, keyPem: "garbage" }, ["a"], [], 1000),
      (e: Error & { code?: string }) => e.code === "WEBHOOK_TLS",
    );
  });
});

describe("webhook mode's pure parts", () => {
  const kv = pluginManifest("kv", { selector: { matchLabels: { app: "web" } } }) as unknown as Plugin;
  kv.metadata.namespace = "ns";
  const sidecarPod = (name: string, image: string, status?: Record<string, unknown>, upgradedTo?: string): V1Pod =>
    ({
      metadata: {
        name,
        namespace: "ns",
        labels: { app: "web" },
        annotations: {
          "podplug.io/plugins": "kv",
          ...(upgradedTo ? { "podplug.io/upgraded-kv": upgradedTo } : {}),
        },
      },
      spec: {
        containers: [{ name: "host" }],
        initContainers: [{ name: "podplug-launcher" }, { name: "podplug-kv", image }],
      },
      status: { phase: "Running", initContainerStatuses: status ? [{ name: "podplug-kv", ...status }] : [] },
    }) as unknown as V1Pod;

  it("parseReview names the field that is wrong", async () => {
    const { parseReview } = await import("../../operator/webhook/admission.ts");
    const review = (request: unknown) =>
      JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request });
    for (const [body, field] of [
      ["[]", ""],
      ["null", ""],
      [review("x"), "request"],
      [review({ uid: "" }), "request.uid"],
      [review({ uid: "u", kind: "Pod" }), "request.kind"],
      [review({ uid: "u", kind: { group: "", version: "v1", kind: "Pod" } }), "request.operation"],
      [
        review({ uid: "u", kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", object: [] }),
        "request.object",
      ],
    ] as const)
      assert.throws(
        () => parseReview(body),
        (e: Error & { code?: string; details?: { field?: string } }) =>
          e.code === "WEBHOOK_BAD_REQUEST" && e.details?.field === field,
        body,
      );
  });

  it("controllerKind maps a Pod's controller to the workload kind Plugins name", async () => {
    const { controllerKind } = await import("../../operator/webhook/pod-injection.ts");
    const owned = (kind: string) => ({
      ownerReferences: [{ apiVersion: "x", kind, name: "n", uid: "u", controller: true }],
    });
    assert.equal(controllerKind(owned("ReplicaSet")), "Deployment");
    assert.equal(controllerKind(owned("StatefulSet")), "StatefulSet");
    assert.equal(controllerKind(owned("DaemonSet")), "DaemonSet");
    assert.equal(controllerKind(owned("Job")), "Pod");
    assert.equal(controllerKind({}), "Pod");
    // A Plugin limited to StatefulSets skips a Deployment's Pod but takes a Job's.
    const { selectingPlugins } = await import("../../operator/webhook/pod-injection.ts");
    const sts = { ...kv, spec: { ...kv.spec, workloadKinds: ["StatefulSet" as const] } };
    assert.equal(selectingPlugins([sts], "ns", { ...owned("ReplicaSet"), labels: { app: "web" } }).length, 0);
    assert.equal(selectingPlugins([sts], "ns", { ...owned("Job"), labels: { app: "web" } }).length, 1);
    assert.equal(selectingPlugins([sts], "other", { ...owned("Job"), labels: { app: "web" } }).length, 0);
  });

  it("the watchdog's selector string and its pods without the sidecar", async () => {
    const { podsWithoutSidecar, selectorString } = await import("../../operator/webhook/watchdog.ts");
    assert.equal(
      selectorString({
        matchLabels: { a: "1" },
        matchExpressions: [
          { key: "b", operator: "In", values: ["x", "y"] },
          { key: "c", operator: "NotIn", values: ["z"] },
          { key: "d", operator: "Exists" },
          { key: "e", operator: "DoesNotExist" },
        ],
      }),
      "a=1,b in (x,y),c notin (z),d,!e",
    );
    const bare = (name: string, extra: Record<string, unknown> = {}) =>
      ({
        metadata: { name, namespace: "ns", labels: { app: "web" }, ...extra },
        spec: { containers: [] },
        status: { phase: "Running" },
      }) as unknown as V1Pod;
    const pods = [
      sidecarPod("has", "example/kv:1"),
      bare("missing"),
      bare("optout", { annotations: { "podplug.io/inject": "false" } }),
      bare("going", { deletionTimestamp: new Date() }),
      { ...bare("done"), status: { phase: "Succeeded" } } as V1Pod,
      bare("refuses", { annotations: { "podplug.io/plugin-versions": "kv=^9.0.0" } }),
    ];
    assert.deepEqual(
      podsWithoutSidecar(kv, pods),
      ["missing"],
      "a Pod that refuses the Plugin's version is not missing it",
    );
  });

  it("planUpgrade paces, waits for readiness, halts on a failing new sidecar, and is up to date at the end", async () => {
    const { planUpgrade } = await import("../../operator/webhook/upgrade.ts");
    const want = { ...kv, spec: { ...kv.spec, image: "example/kv:2" } };
    const running = (image: string) => ({ ready: true, image, state: { running: {} }, restartCount: 0 });
    const old = [0, 1, 2].map((i) => sidecarPod(`p${i}`, "example/kv:1", running("example/kv:1")));
    const p1 = planUpgrade(want, old, 1);
    assert.deepEqual(
      p1.patch.map((x) => [x.pod, x.index, x.from]),
      [["p0", 1, "example/kv:1"]],
    );
    assert.equal(p1.condition.reason, "Upgrading");
    // p0 patched, its new sidecar not ready yet: nothing more.
    // The upgrader's patch annotates the Pod with the image it patched in.
    const step2 = [sidecarPod("p0", "example/kv:2", running("example/kv:1"), "example/kv:2"), ...old.slice(1)];
    assert.deepEqual(planUpgrade(want, step2, 1).patch, []);
    assert.equal(planUpgrade(want, step2, 2).patch.length, 1);
    // Past the progress deadline the pod on its way counts as failed.
    const late = planUpgrade(want, step2, 2, (p) => (p.metadata?.name === "p0" ? "not ready in time" : undefined));
    assert.equal(late.condition.reason, "UpgradeHalted");
    assert.match(late.condition.message, /fails in p0: not ready in time \(running example\/kv:1\)/);
    assert.deepEqual(late.patch, []);
    // p0 ready on the new image: the next one.
    const step3 = [sidecarPod("p0", "example/kv:2", running("example/kv:2"), "example/kv:2"), ...old.slice(1)];
    assert.deepEqual(
      planUpgrade(want, step3, 1).patch.map((x) => x.pod),
      ["p1"],
    );
    assert.match(
      planUpgrade(want, step3, 1).condition.message,
      /^1 of 3 pod\(s\) run image example\/kv:2, 0 upgrading, 2 on an older image$/,
    );
    // A failing new sidecar halts everything.
    const failing = [
      sidecarPod(
        "p0",
        "example/kv:2",
        { ready: false, state: { waiting: { reason: "ImagePullBackOff", message: "no such image" } } },
        "example/kv:2",
      ),
      ...old.slice(1),
    ];
    const halted = planUpgrade(want, failing, 3);
    assert.deepEqual(halted.patch, []);
    assert.equal(halted.condition.reason, "UpgradeHalted");
    assert.match(halted.condition.message, /fails in p0: ImagePullBackOff \(no such image\)/);
    // Pods created with the image (never patched): a crash-looping sidecar there is no upgrade's failure.
    const crashing = { ready: false, state: { waiting: { reason: "CrashLoopBackOff", message: "back-off" } } };
    const fresh = planUpgrade(want, [sidecarPod("n0", "example/kv:2", crashing), sidecarPod("n1", "example/kv:2")], 1);
    assert.equal(fresh.condition.reason, "UpToDate");
    assert.deepEqual(fresh.patch, []);
    // The same sidecar in a Pod the upgrader patched to that image halts the upgrade.
    const patched = planUpgrade(want, [sidecarPod("n0", "example/kv:2", crashing, "example/kv:2")], 1);
    assert.equal(patched.condition.reason, "UpgradeHalted");
    // What a patch of an old Pod carries: where its annotations go.
    assert.deepEqual(
      planUpgrade(want, old, 3).patch.map((x) => x.annotated),
      [true, true, true],
    );
    // All on the new image and ready.
    const done = [0, 1, 2].map((i) =>
      sidecarPod(`p${i}`, "example/kv:2", running("docker.io/example/kv:2"), "example/kv:2"),
    );
    const end = planUpgrade(want, done, 1);
    assert.deepEqual(end.patch, []);
    assert.equal(end.condition.status, "True");
    assert.equal(end.condition.reason, "UpToDate");
  });

  it("podPatch adds or replaces whole fields, and removes the ones that went", async () => {
    const { podPatch } = await import("../../operator/webhook/pod-injection.ts");
    const a = {
      metadata: { labels: { x: "1" } },
      spec: { containers: [{ name: "h" }], volumes: [{ name: "v" }] },
    } as V1Pod;
    const b = {
      metadata: { labels: { x: "1", y: "2" } },
      spec: { containers: [{ name: "h" }], initContainers: [{ name: "i" }] },
    } as V1Pod;
    assert.deepEqual(podPatch(a, b), [
      { op: "add", path: "/metadata/labels", value: { x: "1", y: "2" } },
      { op: "add", path: "/spec/initContainers", value: [{ name: "i" }] },
      { op: "remove", path: "/spec/volumes" },
    ]);
    assert.deepEqual(podPatch(a, a), []);
  });
});
