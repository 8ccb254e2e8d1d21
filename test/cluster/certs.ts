/**
 * Per-run certificates, made with the openssl CLI: a CA, the apiserver's
 * serving certificate for loopback, an admin client certificate
 * (system:masters) and the service-account signing key.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HarnessError } from "./errors.ts";

/** File paths of one run's certificates and keys. */
export interface ClusterCerts {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new HarnessError(
      "CLUSTER_START_FAILED",
      `openssl ${args[0]} failed in ${cwd}: ${stderr.trim()} (is the openssl CLI installed?)`,
    );
  }
}

function ecKey(dir: string, file: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], dir);
}

/** Signs a new P-256 leaf `<base>.crt`/`.key` in `dir` with the CA there; `ext` is its openssl extension file. */
export function signed(dir: string, base: string, subject: string, ext: string): void {
  ecKey(dir, `${base}.key`);
  openssl(["req", "-new", "-key", `${base}.key`, "-subj", subject, "-out", `${base}.csr`], dir);
  writeFileSync(join(dir, `${base}.ext`), ext);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${base}.ext`,
      "-out",
      `${base}.crt`,
    ],
    dir,
  );
}

/** Generates a fresh set into `dir` (which must exist). */
export function generateCerts(dir: string): ClusterCerts {
  ecKey(dir, "ca.key");
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      "/CN=podplug-test-ca",
      "-days",
      "2",
      "-sha256",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  signed(
    dir,
    "serving",
    "/CN=kube-apiserver",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n",
  );
  signed(
    dir,
    "admin",
    "/O=system:masters/CN=podplug-test-admin",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  ecKey(dir, "sa.key");
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  const p = (f: string): string => join(dir, f);
  return {
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    servingCert: p("serving.crt"),
    servingKey: p("serving.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
  };
}
