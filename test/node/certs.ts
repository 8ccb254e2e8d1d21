/**
 * The node's certificates: the test cluster's CA, admin and service-account
 * key (test/cluster/certs.ts), plus the apiserver's serving certificate for
 * the node address and the Service address, and a client certificate for each
 * component with the CN/O that Kubernetes' default RBAC expects.
 */
import { join } from "node:path";
import { type ClusterCerts, generateCerts, signed } from "../cluster/certs.ts";
import type { NodeLayout } from "./layout.ts";

/** A certificate and its key. */
export interface CertPair {
  cert: string;
  key: string;
}

/** Every certificate one node needs. */
export interface NodeCerts {
  base: ClusterCerts;
  apiserver: CertPair;
  apiserverKubeletClient: CertPair;
  controllerManager: CertPair;
  scheduler: CertPair;
  kubelet: CertPair;
  kubeProxy: CertPair;
}

const CLIENT =
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

/** Generates the node's certificates into `dir`. */
export function nodeCerts(dir: string, L: NodeLayout): NodeCerts {
  const base = generateCerts(dir);
  const pair = (name: string): CertPair => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const client = (name: string, subject: string): CertPair => {
    signed(dir, name, subject, CLIENT);
    return pair(name);
  };
  signed(
    dir,
    "node-apiserver",
    "/CN=kube-apiserver",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local," +
      `DNS:localhost,DNS:${L.nodeName},IP:${L.kubernetesServiceIP},IP:${L.nodeIP},IP:127.0.0.1\n`,
  );
  return {
    base,
    apiserver: pair("node-apiserver"),
    apiserverKubeletClient: client("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
    controllerManager: client("controller-manager", "/CN=system:kube-controller-manager"),
    scheduler: client("scheduler", "/CN=system:kube-scheduler"),
    kubelet: client("kubelet", `/O=system:nodes/CN=system:node:${L.nodeName}`),
    kubeProxy: client("kube-proxy", "/CN=system:kube-proxy"),
  };
}
