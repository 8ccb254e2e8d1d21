/**
 * The webhook's TLS, kept by the operator: one Secret (type kubernetes.io/tls:
 * `tls.crt`, `tls.key`, `ca.crt` — cert-manager's layout — plus `ca.key`)
 * shared by every replica, and the CA bundle patched into the
 * MutatingWebhookConfiguration. Every replica syncs it at start and then
 * periodically: a missing Secret is created (a 409 means another replica won:
 * read theirs), a serving certificate with less than a third of its life left
 * (or other names) is re-issued, a CA with less than a third of its life left
 * is replaced while the old one stays in `ca.crt` until it expires, so the
 * apiserver trusts the old and the new serving certificate during the change.
 * Updates carry the resourceVersion; a 409 re-reads.
 *
 * With `source: "external"` (cert-manager) the operator only reads the
 * Secret and never writes it or the caBundle (cert-manager's CA injector does).
 */
import type { Logger } from "pino";
import type { KubeClient } from "../client.ts";
import { KubeApiError, OperatorError } from "../errors.ts";
import { altNames, generateCa, generateServing, msToExpiry, type PemPair } from "./certs.ts";

/** Where the certificates live and what they are for. */
export interface WebhookTlsOptions {
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose webhooks get the caBundle; "" patches none. */
  configurationName: string;
  dnsNames: string[];
  ips: string[];
  caValidityMs: number;
  certValidityMs: number;
  source: "operator" | "external";
}

interface SecretData {
  "tls.crt"?: string;
  "tls.key"?: string;
  "ca.crt"?: string;
  "ca.key"?: string;
}

interface SecretObject {
  metadata: { resourceVersion?: string };
  data?: SecretData;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, "base64").toString("utf8") : "");

/** The PEM blocks of a bundle. */
function certsOf(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** What the servers use: the serving pair and the CA bundle. */
export interface ServingMaterial extends PemPair {
  caBundle: string;
}

/** Keeps the Secret and the caBundle current; `onChange` gets the new serving pair. */
export class WebhookTls {
  private readonly client: KubeClient;
  private readonly opts: WebhookTlsOptions;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private current: ServingMaterial | undefined;
  /** How many times this replica issued a serving certificate (tests and logs). */
  issued = 0;

  constructor(client: KubeClient, opts: WebhookTlsOptions, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.log = log.child({ part: "webhook-tls" });
  }

  private get secretPath(): string {
    return `/api/v1/namespaces/${this.opts.namespace}/secrets/${this.opts.secretName}`;
  }

  /** The material in use, once synced. */
  get material(): ServingMaterial | undefined {
    return this.current;
  }

  /**
   * How often to look: a tenth of the serving certificate's life, at most an hour, at least a second;
   * with an external source at most 10 s, since cert-manager reissues at any time (cmctl renew, a new
   * key) and cainjector moves the caBundle at once.
   */
  get periodMs(): number {
    const most = this.opts.source === "external" ? 10_000 : 3_600_000;
    return Math.max(1000, Math.min(most, Math.floor(this.opts.certValidityMs / 10)));
  }

  private async read(): Promise<SecretObject | undefined> {
    try {
      return await this.client.request<SecretObject>("GET", this.secretPath);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  private wantedNames(): string[] {
    return [...this.opts.dnsNames.map((d) => `DNS:${d}`), ...this.opts.ips.map((i) => `IP:${i}`)].sort();
  }

  /** What `data` should become now, or undefined when it is good as it is. */
  private async renewed(data: SecretData | undefined): Promise<SecretData | undefined> {
    const now = Date.now();
    const third = (v: number): number => Math.floor(v / 3);
    let caPem = unb64(data?.["ca.crt"]);
    let caKey = unb64(data?.["ca.key"]);
    const caCerts = certsOf(caPem).filter((c) => msToExpiry(c, now) > 0);
    // The CA that signs is the first of the bundle; older ones stay only until they expire.
    let signer = caCerts[0];
    let changed = caCerts.length !== certsOf(caPem).length;
    if (!signer || !caKey || msToExpiry(signer, now) < third(this.opts.caValidityMs)) {
      const ca = await generateCa("podplug-webhook-ca", this.opts.caValidityMs);
      signer = ca.certPem;
      caKey = ca.keyPem;
      caCerts.unshift(ca.certPem);
      changed = true;
      this.log.info("webhook CA issued");
    }
    caPem = caCerts.join("");
    const leaf = unb64(data?.["tls.crt"]);
    const leafOk =
      !changed &&
      leaf !== "" &&
      unb64(data?.["tls.key"]) !== "" &&
      msToExpiry(leaf, now) >= third(this.opts.certValidityMs) &&
      altNames(leaf).join(",") === this.wantedNames().join(",");
    if (leafOk) return changed ? { ...data, "ca.crt": b64(caPem) } : undefined;
    const pair = await generateServing(
      { certPem: signer, keyPem: caKey },
      this.opts.dnsNames,
      this.opts.ips,
      this.opts.certValidityMs,
    );
    this.issued++;
    this.log.info({ names: this.wantedNames() }, "webhook serving certificate issued");
    return { "tls.crt": b64(pair.certPem), "tls.key": b64(pair.keyPem), "ca.crt": b64(caPem), "ca.key": b64(caKey) };
  }

  /** One sync: the Secret current (created or renewed as needed), the caBundle patched; returns the material. */
  async sync(): Promise<ServingMaterial> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = await this.read();
      if (this.opts.source === "external") {
        if (!s?.data?.["tls.crt"] || !s.data["tls.key"])
          throw new OperatorError(
            "WEBHOOK_TLS",
            `Secret ${this.opts.namespace}/${this.opts.secretName} has no tls.crt/tls.key yet: with --webhook-cert-source=external, cert-manager (or you) must write it`,
          );
        return this.use(s.data);
      }
      const next = await this.renewed(s?.data);
      if (!next && s?.data) return this.use(s.data, true);
      try {
        if (!s) {
          await this.client.request("POST", `/api/v1/namespaces/${this.opts.namespace}/secrets`, {
            body: {
              apiVersion: "v1",
              kind: "Secret",
              type: "kubernetes.io/tls",
              metadata: {
                name: this.opts.secretName,
                namespace: this.opts.namespace,
                labels: { "app.kubernetes.io/managed-by": "podplug" },
              },
              data: next,
            },
          });
        } else {
          await this.client.request("PUT", this.secretPath, {
            body: {
              apiVersion: "v1",
              kind: "Secret",
              type: "kubernetes.io/tls",
              metadata: {
                name: this.opts.secretName,
                namespace: this.opts.namespace,
                resourceVersion: s.metadata.resourceVersion,
                labels: { "app.kubernetes.io/managed-by": "podplug" },
              },
              data: next,
            },
          });
        }
        return this.use(next!, true);
      } catch (err) {
        // Another replica wrote first: take what it wrote.
        if (err instanceof KubeApiError && err.status === 409) continue;
        throw err;
      }
    }
    throw new OperatorError(
      "WEBHOOK_TLS",
      `Secret ${this.opts.secretName} kept changing under 5 attempts to update it`,
    );
  }

  private async use(data: SecretData, patchBundle = false): Promise<ServingMaterial> {
    const m: ServingMaterial = {
      certPem: unb64(data["tls.crt"]),
      keyPem: unb64(data["tls.key"]),
      caBundle: unb64(data["ca.crt"]),
    };
    if (patchBundle && this.opts.configurationName) await this.patchBundle(m.caBundle);
    this.current = m;
    return m;
  }

  /** Sets every webhook's clientConfig.caBundle of the configuration (only when it differs). */
  private async patchBundle(caBundle: string): Promise<void> {
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.opts.configurationName}`;
    let cfg: { metadata: { resourceVersion?: string }; webhooks?: { clientConfig?: { caBundle?: string } }[] };
    try {
      cfg = await this.client.request("GET", path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404)
        throw new OperatorError(
          "WEBHOOK_TLS",
          `MutatingWebhookConfiguration ${this.opts.configurationName} does not exist: install the chart with injection.mode=webhook, or pass --webhook-configuration-name="" to patch none`,
        );
      throw err;
    }
    const want = b64(caBundle);
    const ops = (cfg.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig?.caBundle === want
        ? []
        : [{ op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: want }],
    );
    if (ops.length === 0) return;
    await this.client.request("PATCH", path, {
      contentType: "application/json-patch+json",
      // The test makes the patch fail if the list moved meanwhile (another replica, a helm upgrade).
      body: [{ op: "test", path: "/metadata/resourceVersion", value: cfg.metadata.resourceVersion }, ...ops],
    });
    this.log.info({ configuration: this.opts.configurationName, webhooks: ops.length }, "caBundle patched");
  }

  /** Syncs every `periodMs`, calling `onChange` when the serving pair changed; errors are logged and retried. */
  start(onChange: (m: ServingMaterial) => void): void {
    const tick = async (): Promise<void> => {
      const before = this.current?.certPem;
      try {
        const m = await this.sync();
        if (m.certPem !== before) onChange(m);
      } catch (err) {
        this.log.error({ err: (err as Error).message, code: (err as OperatorError).code }, "webhook TLS sync failed");
      }
      this.timer = setTimeout(() => void tick(), this.periodMs);
      this.timer.unref();
    };
    this.timer = setTimeout(() => void tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
