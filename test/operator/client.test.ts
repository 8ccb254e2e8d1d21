import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { KubeClient } from "../../operator/client.ts";
import { isRetriable, KubeApiError, OperatorError } from "../../operator/errors.ts";
import { kubeconfigCredentials, loadCredentials } from "../../operator/kubeconfig.ts";
import { type KubeObject, Watcher } from "../../operator/watcher.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { freePort } from "../cluster/ports.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import { createNamespace } from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "client-test";
const silent = pino({ level: "silent" });

async function clientFor(kubeconfig: string): Promise<KubeClient> {
  return new KubeClient(await kubeconfigCredentials(kubeconfig));
}

describe("the operator's API client and watcher on the real apiserver", function () {
  this.timeout(60_000);
  let c: TestCluster;
  let client: KubeClient;
  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await createNamespace(c, NS);
    client = await clientFor(c.kubeconfig);
  });
  after(() => client?.close());

  it("holds requests beyond the burst until the bucket refills (--kube-api-qps/--kube-api-burst), and they all succeed", async () => {
    const limited = new KubeClient(await kubeconfigCredentials(c.kubeconfig), { qps: 4, burst: 2 });
    const waits: number[] = [];
    limited.onThrottle = (s) => waits.push(s);
    try {
      const got = await Promise.all(
        [1, 2, 3, 4].map(() => limited.request<{ metadata: { name: string } }>("GET", `/api/v1/namespaces/${NS}`)),
      );
      assert.deepEqual(
        got.map((n) => n.metadata.name),
        [NS, NS, NS, NS],
      );
      // The burst goes at once; the 3rd and 4th reserved tokens 1/qps apart.
      assert.deepEqual(
        waits.map((w) => w > 0),
        [false, false, true, true],
      );
      assert.ok(waits[3]! > waits[2]!, `the later request waited longer: ${waits}`);
    } finally {
      limited.close();
    }
  });

  it("turns a 404 into a KubeApiError with the status, reason and path", async () => {
    await assert.rejects(client.request("GET", `/api/v1/namespaces/${NS}/configmaps/none`), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.code, "KUBE_API");
      assert.equal(err.status, 404);
      assert.equal(err.reason, "NotFound");
      assert.match(err.message, /GET \/api\/v1\/namespaces\/client-test\/configmaps\/none: HTTP 404 NotFound/);
      assert.equal(isRetriable(err), false);
      return true;
    });
  });

  it("reports an apiserver that is not there as KUBE_UNREACHABLE, which is retriable", async () => {
    const path = join(c.ctx.dir, "kubeconfig-dead");
    writeFileSync(
      path,
      JSON.stringify({
        clusters: [
          { name: "x", cluster: { server: `https://127.0.0.1:${await freePort()}`, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "x", user: {} }],
        contexts: [{ name: "x", context: { cluster: "x", user: "x" } }],
        "current-context": "x",
      }),
    );
    const dead = new KubeClient(await kubeconfigCredentials(path));
    await assert.rejects(dead.request("GET", "/readyz"), (err: unknown) => {
      assert.ok(err instanceof OperatorError);
      assert.equal(err.code, "KUBE_UNREACHABLE");
      assert.match(err.message, /is the apiserver at https:\/\/127\.0\.0\.1:\d+ up\?/);
      assert.ok(isRetriable(err));
      return true;
    });
    dead.close();
  });

  it("refuses kubeconfigs it cannot use, saying why", async () => {
    const cases: [string, RegExp][] = [
      ["{}", /no current context/],
      [
        '{"current-context":"a","contexts":[{"name":"a","context":{"cluster":"gone","user":"u"}}]}',
        /names cluster gone, which has no server/,
      ],
      ["{{{ not yaml", /cannot read it/],
    ];
    for (const [text, msg] of cases) {
      const path = join(c.ctx.dir, "kubeconfig-bad");
      writeFileSync(path, text);
      await assert.rejects(
        kubeconfigCredentials(path),
        (err: Error & { code?: string }) => err.code === "KUBE_CONFIG" && msg.test(err.message),
      );
    }
    await assert.rejects(kubeconfigCredentials(join(c.ctx.dir, "missing")), /cannot read it/);
  });

  it("in a pod uses the ServiceAccount token and CA, re-reading the token", async () => {
    const dir = join(c.ctx.dir, "sa");
    const { mkdirSync, copyFileSync } = await import("node:fs");
    mkdirSync(dir, { recursive: true });
    copyFileSync(c.ctx.certs.caCert, join(dir, "ca.crt"));
    writeFileSync(join(dir, "token"), "first\n");
    const { inClusterCredentials } = await import("../../operator/kubeconfig.ts");
    const creds = inClusterCredentials({ KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "6443" }, dir)!;
    assert.equal(creds.server, "https://127.0.0.1:6443");
    const opts = { headers: {} as Record<string, string> };
    await creds.apply(opts);
    assert.equal(opts.headers.Authorization, "Bearer first");
    writeFileSync(join(dir, "token"), "rotated");
    await creds.apply(opts);
    assert.equal(opts.headers.Authorization, "Bearer rotated");
    assert.equal(inClusterCredentials({}, dir), undefined);
    const fromEnv = await loadCredentials(undefined, { KUBECONFIG: c.kubeconfig });
    assert.equal(fromEnv.server, c.server);
  });

  it("the watcher lists, then sees adds, updates and deletes, handing out frozen views of its store", async () => {
    await c.kubectlOk(["create", "configmap", "before", "-n", NS, "--from-literal=a=1"]);
    const seen: string[] = [];
    const w = new Watcher<KubeObject & { data?: Record<string, string> }>(
      client,
      `/api/v1/namespaces/${NS}/configmaps`,
      silent,
      (key, next, prev) => {
        seen.push(`${next ? (prev ? "update" : "add") : "delete"} ${key}`);
      },
    );
    w.start();
    await w.synced;
    assert.ok(seen.includes(`add ${NS}/before`));
    await c.kubectlOk(["create", "configmap", "during", "-n", NS, "--from-literal=a=1"]);
    await c.kubectlOk(["patch", "configmap", "during", "-n", NS, "-p", '{"data":{"a":"2"}}']);
    await c.kubectlOk(["delete", "configmap", "before", "-n", NS]);
    await waitFor("events", () => seen.includes(`delete ${NS}/before`) && seen.includes(`update ${NS}/during`));
    assert.equal(w.get(`${NS}/during`)?.data?.a, "2");
    const view = w.get(`${NS}/during`)! as { data: Record<string, string> };
    assert.throws(() => {
      view.data.a = "mutated";
    }, TypeError);
    assert.equal(w.get(`${NS}/during`)?.data?.a, "2", "a reader changed the store");
    assert.equal(w.get(`${NS}/before`), undefined);
    w.stop();
  });

  describe("watch streams that misbehave (a local TLS server plays the apiserver)", () => {
    let server: import("node:https").Server;
    let fake: KubeClient;
    let behaviour: (res: import("node:http").ServerResponse) => void = () => undefined;
    before(async () => {
      const { createServer } = await import("node:https");
      const { readFileSync } = await import("node:fs");
      server = createServer(
        { cert: readFileSync(c.ctx.certs.servingCert), key: readFileSync(c.ctx.certs.servingKey) },
        (_req, res) => behaviour(res),
      );
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      const path = join(c.ctx.dir, "kubeconfig-fake");
      writeFileSync(
        path,
        JSON.stringify({
          clusters: [
            {
              name: "f",
              cluster: { server: `https://127.0.0.1:${port}`, "certificate-authority": c.ctx.certs.caCert },
            },
          ],
          users: [{ name: "f", user: { token: "t" } }],
          contexts: [{ name: "f", context: { cluster: "f", user: "f" } }],
          "current-context": "f",
        }),
      );
      fake = new KubeClient(await kubeconfigCredentials(path));
    });
    after(() => {
      fake?.close();
      server?.closeAllConnections();
      server?.close();
    });

    it("a silent stream is ended by the watchdog", async () => {
      behaviour = (res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.flushHeaders();
      };
      await assert.rejects(
        fake.watch("/x", {}, () => undefined, { idleMs: 300 }),
        (err: Error & { code?: string }) => err.code === "KUBE_UNREACHABLE" && /idle for 300 ms/.test(err.message),
      );
    });

    it("a line that is not JSON ends the watch with what it was", async () => {
      behaviour = (res) => {
        res.writeHead(200);
        res.write('{"type":"ADDED","object":{}}\nnot json\n');
      };
      const got: unknown[] = [];
      await assert.rejects(
        fake.watch("/x", {}, (e) => got.push(e), { idleMs: 5000 }),
        /a line is not JSON: not json/,
      );
      assert.equal(got.length, 1);
    });

    it("an in-stream 410 surfaces as a KubeApiError 410 that the watcher turns into a relist", async () => {
      const w = new Watcher<KubeObject>(fake, "/x", silent, () => undefined);
      let lists = 0;
      behaviour = (res) => {
        // Lists answer an empty page; watches answer 410 in the stream.
        if (lists++ % 2 === 0) {
          res.writeHead(200);
          res.end('{"metadata":{"resourceVersion":"5"},"items":[]}');
          return;
        }
        res.writeHead(200);
        res.end('{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old resource version"}}\n');
      };
      w.start();
      await waitFor("two relists after 410", () => w.stats.gone >= 2 && w.stats.lists >= 3, 10_000, 20);
      w.stop();
    });

    it("an HTTP error status on the watch request is a KubeApiError with the Status message", async () => {
      behaviour = (res) => {
        res.writeHead(403);
        res.end('{"kind":"Status","reason":"Forbidden","message":"nope"}');
      };
      await assert.rejects(
        fake.watch("/x", {}, () => undefined, { idleMs: 5000 }),
        (err: unknown) =>
          err instanceof KubeApiError && err.status === 403 && err.reason === "Forbidden" && /nope/.test(err.message),
      );
    });

    it("a 2xx answer that is not JSON is KUBE_BAD_RESPONSE", async () => {
      behaviour = (res) => {
        res.writeHead(200);
        res.end("<html>proxy</html>");
      };
      await assert.rejects(
        fake.request("GET", "/y"),
        (err: Error & { code?: string }) => err.code === "KUBE_BAD_RESPONSE" && /not JSON: <html>/.test(err.message),
      );
    });
  });

  it("a watch on a path that fails keeps retrying with backoff and never throws", async () => {
    const w = new Watcher<KubeObject>(client, "/apis/nope.example.com/v1/things", silent, () => undefined);
    w.start();
    await waitFor("two failed attempts", () => w.stats.drops >= 2, 20_000);
    w.stop();
  });
});
