/**
 * What an AutoMTLS plugin's socket accepts, checked from inside a pod's
 * container (`kubectl exec -- node -e MTLS_CHECK ...`; the images carry node
 * but no shell): a TLS client with the host certificate the operator mounted,
 * with a certificate the plugin never got, with none, and a plaintext HTTP/2
 * client. Each attempt sends HTTP/2's client preface and reports whether the
 * server answered with its SETTINGS frame (it accepted the connection) or
 * what ended it. With a SDK module path it also runs podplug's host SDK with
 * the foreign certificate and reports how the call failed.
 */

/** How one connection attempt ended. */
export interface Attempt {
  /** The TLS handshake completed on the client's side (TLS 1.3 checks the client certificate after that). */
  secure: boolean;
  /** The server's certificate verified against the CA given (the announced certificate). */
  authorized?: boolean;
  /** SHA-256 fingerprint of the certificate the server presented. */
  peer?: string;
  /** "settings": the server spoke HTTP/2 to us; otherwise what ended the connection. */
  outcome: string;
}

/** The script's one output line. */
export interface MtlsView {
  /** The handshake file's line. */
  line: string;
  /** Fingerprint of the certificate in the handshake's sixth field (the plugin's own). */
  announced: string;
  /** Fingerprint of the mounted host certificate (`tls.crt`, what PLUGIN_CLIENT_CERT holds). */
  host: string;
  mounted: Attempt;
  foreign: Attempt;
  none: Attempt;
  plaintext: Attempt;
  /** podplug's host SDK attaching with the foreign certificate: the error code of its first call. */
  sdkForeign?: string;
  /** The same SDK with the mounted certificate: the value its Get returned. */
  sdkMounted?: string;
}

/**
 * Node (CommonJS) source. Arguments: the plugin's socket folder, its host
 * certificate folder, a foreign certificate's PEM and key PEM, and optionally
 * the host SDK's and kv example's modules (for the SDK attempts).
 */
export const MTLS_CHECK = `
const fs = require("node:fs"), net = require("node:net"), tls = require("node:tls");
const { X509Certificate } = require("node:crypto");
const [dir, certDir, foreignCert, foreignKey, sdk, kvShared] = process.argv.slice(1);
const line = fs.readFileSync(dir + "/handshake", "utf8").trim();
const f = line.split("|");
const serverPem = new X509Certificate(Buffer.from(f[5], "base64")).toString();
const hostCert = fs.readFileSync(certDir + "/tls.crt", "utf8");
const hostKey = fs.readFileSync(certDir + "/tls.key", "utf8");
// HTTP/2's client preface and an empty SETTINGS frame: a gRPC server answers with its own SETTINGS.
const PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
function attempt(tlsOpts) {
  return new Promise((resolve) => {
    const out = { secure: false };
    let got = Buffer.alloc(0);
    const done = (outcome) => { clearTimeout(t); s.destroy(); resolve({ ...out, outcome }); };
    const s = tlsOpts ? tls.connect({ path: f[3], servername: "localhost", ca: serverPem, ALPNProtocols: ["h2"], ...tlsOpts }) : net.connect(f[3]);
    const t = setTimeout(() => done("timeout"), 5000);
    s.once(tlsOpts ? "secureConnect" : "connect", () => {
      if (tlsOpts) {
        out.secure = true;
        out.authorized = s.authorized;
        out.peer = s.getPeerX509Certificate()?.fingerprint256;
      }
      s.write(PREFACE);
    });
    s.on("data", (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 9) done(got[3] === 4 ? "settings" : "bytes " + got.subarray(0, 9).toString("hex"));
    });
    s.once("error", (e) => done("error " + (e.code || e.message)));
    s.once("end", () => done("closed"));
  });
}
(async () => {
  const out = {
    line,
    announced: new X509Certificate(serverPem).fingerprint256,
    host: new X509Certificate(hostCert).fingerprint256,
    mounted: await attempt({ cert: hostCert, key: hostKey }),
    foreign: await attempt({ cert: foreignCert, key: foreignKey }),
    none: await attempt({}),
    plaintext: await attempt(undefined),
  };
  if (sdk) {
    const { Client } = await import(sdk);
    const { handshake, kvPlugin } = await import(kvShared);
    for (const [key, pair] of [["sdkForeign", { certPem: foreignCert, keyPem: foreignKey }], ["sdkMounted", { certPem: hostCert, keyPem: hostKey }]]) {
      const c = new Client({ handshake, plugins: { kv: kvPlugin() }, attach: { dir }, hostCertificate: pair, startTimeoutMs: 4000, restart: false });
      try {
        const kv = await c.dispense("kv");
        await kv.put("mtls-check", Buffer.from(key));
        out[key] = (await kv.get("mtls-check")).toString().split("\\n")[0];
      } catch (e) {
        out[key] = "error " + (e.code || e.message);
      } finally {
        await c.kill().catch(() => {});
      }
    }
  }
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`;
