/** The kubeconfig of a test cluster: admin by certificate, optionally impersonating. */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import type { ClusterCerts } from "./certs.ts";

/** Writes a kubeconfig for `server` to `path`; `as` impersonates that user. */
export function writeKubeconfig(path: string, server: string, certs: ClusterCerts, as?: string): void {
  const user: Record<string, string> = {
    "client-certificate": certs.adminCert,
    "client-key": certs.adminKey,
  };
  if (as) user.as = as;
  writeFileSync(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "podplug-test", cluster: { server, "certificate-authority": certs.caCert } }],
      users: [{ name: as ? "impersonated" : "admin", user }],
      contexts: [
        {
          name: "podplug-test",
          context: { cluster: "podplug-test", user: as ? "impersonated" : "admin", namespace: "default" },
        },
      ],
      "current-context": "podplug-test",
    }),
    { mode: 0o600 },
  );
}
