/**
 * go-plugin's AutoMTLS in real pods (issues 10 and 11): Plugins with
 * `spec.autoMTLS`, whose host certificate the operator keeps in Secret
 * `podplug-<name>-mtls` (docs/operator.md, "AutoMTLS"). The TS demo host with
 * go-plugin's unmodified examples/grpc image as its kv sidecar (its certificate
 * reaches the host through the launcher's handshake file), and the Go host
 * (examples/go-host, sdk/go) with the TS kv plugin. Each socket is checked from
 * inside the pod (test/e2e/mtls-check.ts): it speaks HTTP/2 only over TLS, to
 * the mounted host certificate, and refuses a certificate the plugin never got,
 * none, and plaintext. Runs on any cluster (docs/e2e.md).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { parse, stringify } from "yaml";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { waitFor } from "../cluster/wait.ts";
import { imageRef } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import {
  callsSucceedAfter,
  demoPlugins,
  ensureOperator,
  type PodJson,
  pod,
  pods,
  restrictedHost,
  status,
  yamlOf,
} from "./demo.ts";
import { goCallSucceedsAfter, goHost, goHostPlugin, goHostPods, goOutageAfter, KV_CONTAINER } from "./go-host.ts";
import { MTLS_CHECK, type MtlsView } from "./mtls-check.ts";
import { freshNamespace } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
/** The TS demo host with the unmodified Go kv plugin. */
const GO_PLUGIN_NS = "podplug-e2e-mtls-goplugin";
/** The Go host with the TS kv plugin. */
const GO_HOST_NS = "podplug-e2e-mtls-gohost";
const RESTRICTED = { "pod-security.kubernetes.io/enforce": "restricted" };
/** The compiled host SDK and kv example in the example images (images/Containerfile). */
const SDK = "/app/dist/src/host/index.js";
const KV_SHARED = "/app/dist/examples/kv/shared.js";

/** Runs MTLS_CHECK in `container` of `podName` against plugin kv, with a certificate kv never got. */
async function mtlsView(c: E2ECluster, ns: string, podName: string, container: string): Promise<MtlsView> {
  const foreign = await generateCertificate();
  const out = await kubectlOk(
    c,
    [
      "-n",
      ns,
      "exec",
      podName,
      "-c",
      container,
      "--",
      "node",
      "-e",
      MTLS_CHECK,
      "/var/run/podplug/kv",
      "/var/run/podplug-mtls/kv",
      foreign.certPem,
      foreign.keyPem,
      SDK,
      KV_SHARED,
    ],
    undefined,
    60_000,
  );
  return JSON.parse(out.trim().split("\n").at(-1) ?? "") as MtlsView;
}

/** Fingerprint of the certificate in Secret podplug-kv-mtls of `ns` (what the plugin got in PLUGIN_CLIENT_CERT). */
async function secretCert(c: E2ECluster, ns: string): Promise<{ type: string; fingerprint: string }> {
  const s = JSON.parse(await kubectlOk(c, ["-n", ns, "get", "secret", "podplug-kv-mtls", "-o", "json"])) as {
    type: string;
    data: Record<string, string>;
  };
  const pem = Buffer.from(s.data["tls.crt"] ?? "", "base64").toString();
  return { type: s.type, fingerprint: new X509Certificate(pem).fingerprint256 };
}

/** The socket speaks HTTP/2 over TLS to the mounted host certificate only, with the certificate it announced. */
function assertMutualTls(v: MtlsView, secret: string, plugin: string): void {
  const view = JSON.stringify(v, null, 1);
  assert.equal(v.host, secret, "the mounted host certificate is the Secret's");
  assert.notEqual(v.announced, v.host, `${plugin} announced its own certificate, not the host's`);
  assert.deepEqual(
    v.mounted,
    { secure: true, authorized: true, peer: v.announced, outcome: "settings" },
    `with the host certificate, ${plugin} serves HTTP/2 over TLS with the certificate it announced: ${view}`,
  );
  // TLS 1.3 completes the client's side first; the server then refuses the client certificate: go-plugin's
  // with an alert, podplug's by closing the connection.
  assert.match(v.foreign.outcome, /^(error ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|error ECONNRESET|closed)$/, view);
  assert.equal(v.none.outcome, "error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", view);
  assert.notEqual(v.plaintext.outcome, "settings", `${plugin} never speaks plaintext HTTP/2: ${view}`);
  assert.equal(v.plaintext.secure, false);
  // podplug's host SDK with a certificate the plugin did not get cannot call it; with the mounted one it can.
  assert.equal(v.sdkForeign, "error UNAVAILABLE", view);
  assert.equal(v.sdkMounted, "sdkMounted", view);
}

/** The pod's container spec `name`, with its env. */
function containerSpec(p: PodJson, name: string): { env?: { name: string; valueFrom?: unknown }[] } {
  const all = [...(p.spec.initContainers ?? []), ...p.spec.containers] as {
    name: string;
    env?: { name: string; valueFrom?: unknown }[];
  }[];
  const ct = all.find((x) => x.name === name);
  assert.ok(ct, `pod ${p.metadata.name} has no container ${name}`);
  return ct;
}

/** The handshake lines a plugin container logged (the launcher passes go-plugin's stdout through). */
async function handshakeLines(c: E2ECluster, ns: string, podName: string, container: string, previous = false) {
  const out = await kubectlOk(c, ["-n", ns, "logs", podName, "-c", container, ...(previous ? ["--previous"] : [])]);
  return out.split("\n").filter((l) => /^1\|\d+\|unix\|/.test(l));
}

describe("e2e: AutoMTLS in real pods", function () {
  this.timeout(300_000);

  before(async () => {
    const c = await cluster();
    for (const name of ["podplug", "example-kv", "example-counter", "example-demo-host", "example-go-kv"])
      imageRef(c.images, `ghcr.io/podplug/${name}:`);
    imageRef(c.images, "ghcr.io/podplug/example-go-host:");
    await ensureOperator(c);
  });

  describe("the TS demo host with go-plugin's unmodified examples/grpc image as its kv sidecar", () => {
    let podName = "";

    before(async () => {
      const c = await cluster();
      await freshNamespace(c, GO_PLUGIN_NS, RESTRICTED);
      // The demo's Plugins with autoMTLS; kv is the Go image's binary, named so the launcher runs it (and writes
      // its handshake, certificate included, to the file). It writes kv_<key> into its working folder: /tmp.
      const docs = demoPlugins();
      for (const d of docs) d.spec.autoMTLS = true;
      const kv = docs.find((d) => d.metadata.name === "kv")!;
      kv.spec.image = imageRef(c.images, "ghcr.io/podplug/example-go-kv:");
      kv.spec.command = ["/grpc-plugin"];
      delete kv.spec.env;
      kv.spec.workingDir = "/tmp";
      await kubectlOk(c, ["-n", GO_PLUGIN_NS, "apply", "-f", "-"], yamlOf(docs));
      const host = parse(restrictedHost()) as { spec: { replicas: number } };
      host.spec.replicas = 1;
      await kubectlOk(c, ["-n", GO_PLUGIN_NS, "apply", "-f", "-"], stringify(host));
      await kubectlOk(
        c,
        ["-n", GO_PLUGIN_NS, "rollout", "status", "deployment/demo-host", "--timeout=120s"],
        undefined,
        130_000,
      );
      const p = (await pods(c, GO_PLUGIN_NS, "app=demo-host")).find((q) => !q.metadata.deletionTimestamp);
      assert.ok(p);
      podName = p.metadata.name;
    });

    it("the operator's host certificate reaches the Go plugin as PLUGIN_CLIENT_CERT; its own comes back through the launcher's handshake file; the host's calls (kv, and counter's broker callback) succeed over mutual TLS", async () => {
      const c = await cluster();
      const secret = await secretCert(c, GO_PLUGIN_NS);
      assert.equal(secret.type, "kubernetes.io/tls");
      const p = await pod(c, GO_PLUGIN_NS, podName);
      // Its exec probe checks health as the host does, over mutual TLS with the mounted certificate: Ready.
      assert.equal(status(p, "podplug-kv").ready, true);
      const env = containerSpec(p, "podplug-kv").env ?? [];
      assert.deepEqual(env.find((e) => e.name === "PLUGIN_CLIENT_CERT")?.valueFrom, {
        secretKeyRef: { name: "podplug-kv-mtls", key: "tls.crt" },
      });
      // go-plugin's own line on the container log, with its certificate in the sixth field.
      const [line] = await handshakeLines(c, GO_PLUGIN_NS, podName, "podplug-kv");
      assert.ok(line, "the Go plugin printed its handshake");
      assert.ok((line.split("|")[5] ?? "").length > 50, `the Go plugin announced a certificate: ${line}`);
      const tick = await callsSucceedAfter(c, podName, 0, ["kv", "counter"], GO_PLUGIN_NS);
      assert.equal(tick.kv, String(tick.tick), "the Go plugin returns what the host put");
      const v = await mtlsView(c, GO_PLUGIN_NS, podName, "host");
      assert.equal(v.line, line, "the handshake file holds the Go plugin's own line");
      assertMutualTls(v, secret.fingerprint, "the Go plugin");
    });

    it("SIGKILL of the Go plugin: it restarts with a new certificate, and the host attaches to it over TLS again", async () => {
      const c = await cluster();
      const p = await pod(c, GO_PLUGIN_NS, podName);
      const kv = status(p, "podplug-kv");
      assert.ok(kv.containerID);
      const [before] = await handshakeLines(c, GO_PLUGIN_NS, podName, "podplug-kv");
      assert.ok(before);
      const t0 = Date.now();
      await c.signalContainer(p.spec.nodeName, kv.containerID, "SIGKILL");
      await waitFor(
        "podplug-kv to restart and be ready",
        async () => {
          const s = status(await pod(c, GO_PLUGIN_NS, podName), "podplug-kv");
          return s.restartCount > kv.restartCount && s.ready;
        },
        60_000,
        250,
      );
      const [after] = await handshakeLines(c, GO_PLUGIN_NS, podName, "podplug-kv");
      assert.ok(after);
      assert.notEqual(after.split("|")[5], before.split("|")[5], "a new process, a new certificate");
      await callsSucceedAfter(c, podName, t0, ["kv"], GO_PLUGIN_NS);
      const v = await mtlsView(c, GO_PLUGIN_NS, podName, "host");
      assert.equal(v.line, after);
      assert.equal(v.mounted.outcome, "settings");
      assert.equal(
        status(await pod(c, GO_PLUGIN_NS, podName), "host").restartCount,
        status(p, "host").restartCount,
        "the host did not restart",
      );
    });

    after(async () => {
      const c = await cluster();
      await c.kubectl(["delete", "namespace", GO_PLUGIN_NS, "--wait=false"]);
    });
  });

  describe("the Go host (examples/go-host, sdk/go) with the TS kv plugin", () => {
    let podName = "";
    let announced = "";

    before(async () => {
      const c = await cluster();
      await freshNamespace(c, GO_HOST_NS, RESTRICTED);
      const plugin = parse(goHostPlugin()) as { spec: Record<string, unknown> };
      plugin.spec.autoMTLS = true;
      await kubectlOk(c, ["-n", GO_HOST_NS, "apply", "-f", "-"], stringify(plugin));
      await kubectlOk(c, ["-n", GO_HOST_NS, "apply", "-f", "-"], goHost(1, "250ms"));
      await kubectlOk(
        c,
        ["-n", GO_HOST_NS, "rollout", "status", "deployment/go-host", "--timeout=120s"],
        undefined,
        130_000,
      );
      const [p] = await goHostPods(c, GO_HOST_NS, 1);
      assert.ok(p);
      podName = p.metadata.name;
    });

    it("sdk/go attaches with the mounted host certificate and the TS plugin's announced one; its calls succeed, and the TS plugin serves only mutual TLS to that certificate", async () => {
      const c = await cluster();
      const ok = await goCallSucceedsAfter(c, GO_HOST_NS, podName, 0);
      assert.equal(ok.value, `${ok.tick}\n\nWritten from plugin-ts-grpc`, "the TS plugin returns what the Go host put");
      const secret = await secretCert(c, GO_HOST_NS);
      // The TS plugin's handshake file carries its certificate: it serves TLS only (checked below), so the Go
      // host's calls above ran over it. The check runs in the plugin's container (the Go host's image has no node).
      const v = await mtlsView(c, GO_HOST_NS, podName, KV_CONTAINER);
      announced = v.announced;
      assert.ok((v.line.split("|")[5] ?? "").length > 50, `the TS plugin announced a certificate: ${v.line}`);
      assertMutualTls(v, secret.fingerprint, "the TS plugin");
      // The plugin's exec probe speaks the same mutual TLS (with the mounted host certificate): it is Ready.
      assert.equal(status(await pod(c, GO_HOST_NS, podName), KV_CONTAINER).ready, true);
    });

    it("SIGKILL of the TS plugin: it restarts with a new certificate, and sdk/go re-attaches with it", async () => {
      const c = await cluster();
      assert.ok(announced, "the first test ran");
      const p = await pod(c, GO_HOST_NS, podName);
      const kv = status(p, KV_CONTAINER);
      assert.ok(kv.containerID);
      const t0 = Date.now();
      await c.signalContainer(p.spec.nodeName, kv.containerID, "SIGKILL");
      await waitFor(
        `${KV_CONTAINER} to restart and be ready`,
        async () => {
          const s = status(await pod(c, GO_HOST_NS, podName), KV_CONTAINER);
          return s.restartCount > kv.restartCount && s.ready;
        },
        60_000,
        250,
      );
      // The Go host saw the plugin go and calls it again: over TLS to the new certificate, the only one it serves.
      await goOutageAfter(c, GO_HOST_NS, podName, t0);
      const v = await mtlsView(c, GO_HOST_NS, podName, KV_CONTAINER);
      assert.notEqual(v.announced, announced, "a new process, a new certificate");
      assert.equal(v.mounted.outcome, "settings");
      assert.equal(v.plaintext.outcome === "settings", false);
      const log = await kubectlOk(c, ["-n", GO_HOST_NS, "logs", podName, "-c", "host"]);
      assert.ok((log.match(/"msg":"attached"/g) ?? []).length >= 2, "the Go host attached again");
      assert.equal(
        status(await pod(c, GO_HOST_NS, podName), "host").restartCount,
        status(p, "host").restartCount,
        "the Go host did not restart",
      );
    });

    after(async () => {
      const c = await cluster();
      await c.kubectl(["delete", "namespace", GO_HOST_NS, "--wait=false"]);
    });
  });
});
