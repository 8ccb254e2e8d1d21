/**
 * Per-plugin socket isolation inside a real pod (issue 10, chain step 4): the
 * demo host with the kv and counter TS plugins. Each plugin container mounts
 * only its own socket folder, so it cannot list or open another plugin's; the
 * host container mounts the whole socket volume and reaches both. The plugin
 * images have no shell but carry node: the probes are `kubectl exec -- node -e`.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { type E2ECluster, kubectlOk } from "./cluster.ts";
import { demoPlugins, ensureOperator, pods, restrictedHost, yamlOf } from "./demo.ts";
import { freshNamespace } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const NS = "podplug-e2e-isolation";
const ROOT = "/var/run/podplug";

/** What one container sees of the socket volume: run in it by node, printed as one JSON line. */
interface View {
  root: string[] | string;
  dirs: Record<string, string[] | string>;
  connect: Record<string, string>;
}

/** Node code that lists ROOT and each plugin folder and connects to each plugin socket; errors by code. */
const PROBE = `
const fs = require("node:fs"), net = require("node:net");
const names = process.argv.slice(1);
const ls = (d) => { try { return fs.readdirSync(d).sort(); } catch (e) { return e.code; } };
const dial = (p) => new Promise((r) => {
  const s = net.connect(p);
  const t = setTimeout(() => { s.destroy(); r("TIMEOUT"); }, 3000);
  s.once("connect", () => { clearTimeout(t); s.destroy(); r("connected"); });
  s.once("error", (e) => { clearTimeout(t); r(e.code); });
});
(async () => {
  const out = { root: ls("${ROOT}"), dirs: {}, connect: {} };
  for (const n of names) {
    out.dirs[n] = ls("${ROOT}/" + n);
    out.connect[n] = await dial("${ROOT}/" + n + "/plugin.sock");
  }
  console.log(JSON.stringify(out));
})();
`;

async function view(c: E2ECluster, pod: string, container: string): Promise<View> {
  const out = await kubectlOk(c, ["-n", NS, "exec", pod, "-c", container, "--", "node", "-e", PROBE, "kv", "counter"]);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "") as View;
}

describe("e2e: per-plugin socket isolation in a real pod", function () {
  this.timeout(240_000);

  before(async () => {
    const c = await cluster();
    await ensureOperator(c);
    await freshNamespace(c, NS, { "pod-security.kubernetes.io/enforce": "restricted" });
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(demoPlugins()));
    const host = parse(restrictedHost()) as { spec: { replicas: number } };
    host.spec.replicas = 1;
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], stringify(host));
    await kubectlOk(c, ["-n", NS, "rollout", "status", "deployment/demo-host", "--timeout=120s"], undefined, 130_000);
  });

  it("a plugin sees and reaches only its own folder and socket; the host sees and reaches both", async () => {
    const c = await cluster();
    const [p] = (await pods(c, NS, "app=demo-host")).filter((q) => !q.metadata.deletionTimestamp);
    assert.ok(p);
    const name = p.metadata.name;
    const kv = await view(c, name, "podplug-kv");
    const counter = await view(c, name, "podplug-counter");
    const host = await view(c, name, "host");

    // Each plugin: the socket root holds only its own folder; the other's does not exist for it.
    assert.deepEqual(kv.root, ["kv"], JSON.stringify(kv));
    assert.equal(kv.connect.kv, "connected");
    assert.ok(Array.isArray(kv.dirs.kv) && kv.dirs.kv.includes("plugin.sock"), JSON.stringify(kv));
    assert.equal(kv.dirs.counter, "ENOENT");
    assert.equal(kv.connect.counter, "ENOENT");
    assert.deepEqual(counter.root, ["counter"], JSON.stringify(counter));
    assert.equal(counter.connect.counter, "connected");
    assert.equal(counter.dirs.kv, "ENOENT");
    assert.equal(counter.connect.kv, "ENOENT");

    // The host: both folders (socket and handshake file each), both sockets.
    assert.ok(Array.isArray(host.root) && ["counter", "kv"].every((n) => host.root.includes(n)), JSON.stringify(host));
    for (const n of ["kv", "counter"]) {
      assert.ok(Array.isArray(host.dirs[n]), JSON.stringify(host));
      assert.ok(
        ["handshake", "plugin.sock"].every((f) => (host.dirs[n] as string[]).includes(f)),
        JSON.stringify(host),
      );
      assert.equal(host.connect[n], "connected", `the host connects to ${n}`);
    }
  });

  after(async () => {
    const c = await cluster();
    await c.kubectl(["delete", "namespace", NS, "--wait=false"]);
  });
});
