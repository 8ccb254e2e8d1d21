/**
 * AutoMTLS for sidecar plugins: the host certificate of a Plugin lives in a
 * Secret (type kubernetes.io/tls) that the operator creates once, owned by the
 * Plugin so it goes with it. The operator only ever creates it: it needs no
 * right to read Secrets, and an existing one (409) is left as it is, so
 * rotating means deleting the Secret; it is made again at the Plugin's next
 * spec change or operator start (see docs/operator.md).
 */
import { mtlsSecretName } from "../src/inject/conventions.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin } from "../src/inject/types.ts";
import type { KubeClient } from "./client.ts";
import { KubeApiError } from "./errors.ts";

/** Plugins (uid/generation) whose Secret is known to exist: a spec change checks again. */
const ensured = new Set<string>();

/** Creates the host-certificate Secret of `p` unless it exists; returns true if it created it. */
export async function ensureHostCertificate(client: KubeClient, p: Plugin): Promise<boolean> {
  const uid = p.metadata.uid ?? "";
  const seen = `${uid}/${p.metadata.generation ?? 0}`;
  if (uid && ensured.has(seen)) return false;
  // Loaded on first use: the certificate code is not needed by operators without AutoMTLS plugins.
  const { generateCertificate } = await import("../src/protocol/self-signed.ts");
  const pair = await generateCertificate();
  const ns = p.metadata.namespace ?? "default";
  try {
    await client.write("POST", `/api/v1/namespaces/${ns}/secrets`, {
      body: {
        apiVersion: "v1",
        kind: "Secret",
        type: "kubernetes.io/tls",
        metadata: {
          name: mtlsSecretName(p.metadata.name),
          namespace: ns,
          labels: { "app.kubernetes.io/managed-by": "podplug", "podplug.io/plugin": p.metadata.name },
          ownerReferences: [{ apiVersion: PLUGIN_API_VERSION, kind: PLUGIN_KIND, name: p.metadata.name, uid }],
        },
        data: {
          "tls.crt": Buffer.from(pair.certPem).toString("base64"),
          "tls.key": Buffer.from(pair.keyPem).toString("base64"),
        },
      },
    });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    if (uid) ensured.add(seen);
    return false;
  }
  if (uid) ensured.add(seen);
  return true;
}
