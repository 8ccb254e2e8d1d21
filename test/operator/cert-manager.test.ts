/**
 * Webhook mode with `injection.webhook.certManager.enabled=true` against a
 * real cert-manager: its controller and cainjector (built from the Go module
 * proxy by tools/build-cert-manager.sh) run as local processes against the
 * test apiserver, as the operator does. The chart is installed by the real
 * helm; cert-manager issues the Certificate the chart renders, cainjector
 * puts its CA into the chart's MutatingWebhookConfiguration, and the
 * operator, run with the chart's own arguments as the chart's ServiceAccount,
 * serves that certificate: a TLS client that trusts only the injected
 * caBundle and checks the Service's DNS name gets an AdmissionReview
 * answered, before and after a forced reissue, without an operator restart.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { connect } from "node:tls";
import { parseAllDocuments } from "yaml";
import { helmBinary } from "../cluster/binaries.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { run } from "../cluster/kubectl.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  createNamespace,
  getJson,
  helmEnv,
  httpsLoopback,
  installCrd,
  type OperatorHandle,
  pluginManifest,
  ROOT,
  startOperator,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const CHART = join(ROOT, "charts", "podplug");
const RELEASE = "pcm";
const FULL = "pcm-podplug";
const NS = "cm-system";
const APPS = "cm-apps";
const SA = `system:serviceaccount:${NS}:${FULL}`;
const CERT = `${FULL}-webhook`;
const SECRET = `${FULL}-webhook-tls`;
const DNS_NAMES = [`${FULL}-webhook.${NS}.svc`, `${FULL}-webhook.${NS}.svc.cluster.local`];
const OPERATOR_ENV = {
  POD_NAMESPACE: NS,
  POD_NAME: "operator-cert-manager",
  PODPLUG_LAUNCHER_IMAGE: "example/podplug:1",
};
const CHART_VALUES = [
  "--set",
  "injection.mode=webhook",
  "--set",
  "injection.webhook.certManager.enabled=true",
  "--set",
  "replicaCount=1",
  "--set",
  "launcherImage=example/podplug:1",
];
/** The cert-manager controllers a Certificate from a self-signed or CA Issuer needs (no ACME, no ingress-shim). */
const CONTROLLERS = [
  "issuers",
  "clusterissuers",
  "certificaterequests-approver",
  "certificaterequests-issuer-selfsigned",
  "certificaterequests-issuer-ca",
  "certificates-trigger",
  "certificates-issuing",
  "certificates-key-manager",
  "certificates-request-manager",
  "certificates-readiness",
  "certificates-revision-manager",
];

/** cert-manager's folder in the cache (built on first use; a no-op when cached). */
function certManagerDir(): string {
  const script = join(ROOT, "tools", "build-cert-manager.sh");
  execFileSync(script, { stdio: "inherit" });
  return execFileSync(script, ["--print-dir"]).toString().trim();
}

interface CertificateView {
  spec?: { privateKey?: { rotationPolicy?: string } };
  status?: { revision?: number; conditions?: { type: string; status: string; reason?: string }[] };
}

const ready = (c: CertificateView | undefined): boolean =>
  Boolean(c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"));

interface Served {
  authorized: boolean;
  error?: string;
  der: string;
}

/** What a client that trusts only `ca` and expects `servername` sees on the webhook port. */
function handshake(port: number, ca: string, servername: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, ca, servername, rejectUnauthorized: false, timeout: 10_000 }, () => {
      const der = s.getPeerCertificate().raw.toString("base64");
      const error = s.authorizationError ? String(s.authorizationError) : undefined;
      s.end();
      resolve({ authorized: s.authorized, error, der });
    });
    s.on("timeout", () => s.destroy(new Error("TLS handshake timed out")));
    s.on("error", reject);
  });
}

/** POSTs an AdmissionReview to /inject, trusting only `ca` for `servername` (the Service's name). */
const review = (
  port: number,
  ca: string,
  servername: string,
  body: unknown,
): Promise<{ status: number; text: string }> =>
  httpsLoopback(port, JSON.stringify(body), { path: "/inject", ca, servername });

/** The AdmissionReview of a Pod that Plugin `cm` selects. */
const podReview = (uid: string): unknown => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid,
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    operation: "CREATE",
    namespace: APPS,
    object: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: APPS, labels: { "podplug.io/host": "cm" } },
      spec: { containers: [{ name: "host", image: "example/host:1" }] },
    },
  },
});

const pemToDerB64 = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, "");

describe("webhook TLS from a real cert-manager (chart certManager.enabled)", function () {
  this.timeout(180_000);
  let c: TestCluster;
  let controller: ManagedProcess | undefined;
  let cainjector: ManagedProcess | undefined;
  let op: OperatorHandle | undefined;
  let port = 0;
  let dir = "";
  let chartArgs: string[] = [];
  /** The chart's operator arguments, bound to loopback (in the pod they bind to its IP; startOperator gives metrics and health their ports). */
  const operatorArgs = (webhookPort: number): string[] =>
    chartArgs
      .filter((a) => a !== "operator" && !/^--(metrics|health-probe)-bind-address=/.test(a))
      .map((a) => (a.startsWith("--webhook-bind-address=") ? `--webhook-bind-address=127.0.0.1:${webhookPort}` : a));
  const startCertManager = async (): Promise<void> => {
    controller = new ManagedProcess(
      "cert-manager-controller",
      join(dir, "controller"),
      [
        `--kubeconfig=${c.kubeconfig}`,
        "--leader-elect=false",
        `--cluster-resource-namespace=${NS}`,
        `--controllers=${CONTROLLERS.join(",")}`,
        `--metrics-listen-address=127.0.0.1:${await freePort()}`,
        "--v=2",
      ],
      join(c.ctx.dir, "cert-manager-controller.log"),
    );
    cainjector = new ManagedProcess(
      "cert-manager-cainjector",
      join(dir, "cainjector"),
      [`--kubeconfig=${c.kubeconfig}`, "--leader-elect=false", "--v=2"],
      join(c.ctx.dir, "cert-manager-cainjector.log"),
      { ...process.env, KUBECONFIG: c.kubeconfig },
    );
  };

  const secret = async (): Promise<Record<string, string>> => {
    const s = await getJson<{ data?: Record<string, string> }>(c, ["-n", NS, "secret", SECRET]);
    return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  };
  const caBundle = async (): Promise<string> => {
    const cfg = await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(c, [
      "mutatingwebhookconfiguration",
      FULL,
    ]);
    return Buffer.from(cfg?.webhooks[0]?.clientConfig.caBundle ?? "", "base64").toString();
  };
  const patchCertificate = (how: string[], patch: unknown): Promise<string> =>
    c.kubectlOk(["patch", "-n", NS, "certificate", CERT, ...how, "-p", JSON.stringify(patch)]);
  const certificate = (): Promise<CertificateView | undefined> =>
    getJson<CertificateView>(c, ["-n", NS, "certificate", CERT]);

  before(async function () {
    this.timeout(1_800_000);
    dir = certManagerDir();
    c = await cluster();
    await installCrd(c);
    await c.kubectlOk(["apply", "--server-side", "-f", join(dir, "crds")]);
    for (const crd of ["certificates", "certificaterequests", "issuers", "clusterissuers"])
      await c.kubectlOk(["wait", "--for=condition=Established", "--timeout=60s", `crd/${crd}.cert-manager.io`]);
    const helm = await run(
      helmBinary(),
      ["upgrade", "--install", RELEASE, CHART, "-n", NS, "--create-namespace", ...CHART_VALUES],
      { env: helmEnv(c) },
    );
    assert.equal(helm.code, 0, helm.stderr);
    const rendered = execFileSync(helmBinary(), ["template", RELEASE, CHART, "-n", NS, ...CHART_VALUES], {
      env: helmEnv(undefined),
    }).toString();
    const deployment = parseAllDocuments(rendered)
      .map((d) => d.toJSON() as { kind?: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } })
      .find((m) => m?.kind === "Deployment");
    chartArgs = deployment?.spec?.template.spec.containers[0]?.args ?? [];
    assert.ok(chartArgs.includes("--webhook-cert-source=external"), chartArgs.join(" "));
  });
  after(async () => {
    await op?.stop();
    await controller?.stop();
    await cainjector?.stop();
  });

  it("an operator started before cert-manager has issued fails its start with WEBHOOK_TLS", async () => {
    const early = new ManagedProcess(
      "operator-before-issue",
      process.execPath,
      [
        join(ROOT, "operator", "main.ts"),
        `--kubeconfig=${c.impersonatingKubeconfig(SA)}`,
        `--metrics-bind-address=127.0.0.1:${await freePort()}`,
        `--health-probe-bind-address=127.0.0.1:${await freePort()}`,
        ...operatorArgs(await freePort()),
      ],
      join(c.ctx.dir, "operator-before-issue.log"),
      { ...process.env, ...OPERATOR_ENV },
    );
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      early.exited(),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("still running after 30 s"), 30_000);
      }),
    ]).finally(async () => {
      clearTimeout(timer);
      await early.stop();
    });
    assert.equal(typeof code, "number", String(code));
    assert.notEqual(code, 0);
    assert.match(early.tail(40), /WEBHOOK_TLS/);
    assert.match(early.tail(40), new RegExp(`Secret ${NS}/${SECRET} has no tls.crt/tls.key yet.*cert-manager`));
  });

  it("cert-manager issues the chart's Certificate for the webhook Service's DNS names", async () => {
    await startCertManager();
    const cert = await waitFor(
      "the Certificate Ready",
      async () => {
        controller!.assertRunning();
        const x = await certificate();
        return ready(x) ? x : undefined;
      },
      90_000,
      250,
    );
    assert.equal(cert.status?.revision, 1);
    const s = await secret();
    assert.match(s["tls.key"] ?? "", /BEGIN (RSA |EC )?PRIVATE KEY/);
    const leaf = new X509Certificate(s["tls.crt"] ?? "");
    assert.deepEqual(leaf.subjectAltName?.split(", ").sort(), DNS_NAMES.map((d) => `DNS:${d}`).sort());
    for (const d of DNS_NAMES) assert.equal(leaf.checkHost(d), d);
    // The chart's self-signed Issuer: the certificate is its own CA.
    assert.ok(leaf.verify(new X509Certificate(s["ca.crt"] ?? "").publicKey));
  });

  it("cainjector injects the Certificate's CA into the chart's MutatingWebhookConfiguration", async () => {
    const ca = await waitFor(
      "the caBundle injected",
      async () => {
        cainjector!.assertRunning();
        const b = await caBundle();
        return b !== "" ? b : undefined;
      },
      60_000,
      250,
    );
    const s = await secret();
    assert.equal(ca.trim(), (s["ca.crt"] ?? "").trim());
    assert.ok(new X509Certificate(s["tls.crt"] ?? "").verify(new X509Certificate(ca).publicKey));
  });

  it("the operator, with the chart's arguments as the chart's ServiceAccount, serves that certificate and answers", async () => {
    await createNamespace(c, APPS);
    await c.kubectlOk(["apply", "-n", APPS, "-f", "-"], yaml(pluginManifest("cm")));
    port = await freePort();
    op = await startOperator(
      c,
      operatorArgs(port),
      c.impersonatingKubeconfig(SA),
      "operator-cert-manager",
      OPERATOR_ENV,
    );
    await waitFor("the webhook ready", async () => (await fetch(`${op!.healthUrl}/readyz`)).ok, 30_000, 100);

    const ca = await caBundle();
    const served = await handshake(port, ca, DNS_NAMES[0]!);
    assert.equal(served.error, undefined);
    assert.ok(served.authorized);
    assert.equal(served.der, pemToDerB64((await secret())["tls.crt"] ?? ""));
    // A client that checks the name refuses one the certificate does not carry.
    const wrong = await handshake(port, ca, "other.example");
    assert.equal(wrong.authorized, false);
    assert.match(wrong.error ?? "", /ERR_TLS_CERT_ALTNAME_INVALID|altnames/);

    const answer = await waitFor(
      "an injecting answer",
      async () => {
        const r = await review(port, ca, DNS_NAMES[0]!, podReview("cm-1"));
        assert.equal(r.status, 200, r.text);
        const a = JSON.parse(r.text) as { response: { uid: string; allowed: boolean; patch?: string } };
        return a.response.patch ? a : undefined;
      },
      30_000,
      250,
    );
    assert.equal(answer.response.uid, "cm-1");
    assert.equal(answer.response.allowed, true);
    const patch = JSON.parse(Buffer.from(answer.response.patch ?? "", "base64").toString()) as { value?: unknown }[];
    assert.match(JSON.stringify(patch), /podplug-cm/);
  });

  it("a forced reissue (cmctl renew's Issuing condition) is served without an operator restart", async () => {
    // The chart asks for a new key on every issue (cert-manager v1.11, built here, would reuse it), so the
    // old caBundle (the self-signed certificate itself) no longer verifies what is served after the reissue.
    assert.equal(
      (await certificate())?.spec?.privateKey?.rotationPolicy,
      "Always",
      "the chart's Certificate rotates its key",
    );
    const before = await secret();
    const revision = (await certificate())?.status?.revision ?? 0;
    const pid = op!.proc.child.pid;
    // What `cmctl renew` does: add the Issuing condition to the Certificate's status.
    await patchCertificate(
      ["--subresource=status", "--type=json"],
      [
        {
          op: "add",
          path: "/status/conditions/-",
          value: {
            type: "Issuing",
            status: "True",
            reason: "ManuallyTriggered",
            message: "Certificate re-issuance manually triggered",
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          },
        },
      ],
    );
    const cert = await waitFor(
      "a new revision Ready",
      async () => {
        const x = await certificate();
        return (x?.status?.revision ?? 0) > revision && ready(x) ? x : undefined;
      },
      90_000,
      250,
    );
    assert.equal(cert.status?.revision, revision + 1);
    const after = await secret();
    assert.notEqual(after["tls.crt"], before["tls.crt"]);
    assert.notEqual(after["tls.key"], before["tls.key"]);
    assert.ok(
      !new X509Certificate(after["tls.crt"] ?? "").verify(new X509Certificate(before["ca.crt"] ?? "").publicKey),
    );
    const ca = await waitFor(
      "the new caBundle injected",
      async () => {
        const b = (await caBundle()).trim();
        return b === (after["ca.crt"] ?? "").trim() ? b : undefined;
      },
      60_000,
      250,
    );
    const served = await waitFor(
      "the new certificate served",
      async () => {
        op!.proc.assertRunning();
        const s = await handshake(port, ca, DNS_NAMES[0]!);
        return s.der === pemToDerB64(after["tls.crt"] ?? "") ? s : undefined;
      },
      60_000,
      250,
    );
    assert.ok(served.authorized, served.error);
    assert.equal(op!.proc.child.pid, pid);
    assert.ok(op!.proc.running);
    const r = await review(port, ca, DNS_NAMES[0]!, podReview("cm-2"));
    assert.equal(r.status, 200, r.text);
    const a = JSON.parse(r.text) as { response: { uid: string; allowed: boolean; patch?: string } };
    assert.equal(a.response.uid, "cm-2");
    assert.match(Buffer.from(a.response.patch ?? "", "base64").toString(), /podplug-cm/);
  });
});
