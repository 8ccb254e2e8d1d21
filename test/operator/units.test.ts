import assert from "node:assert/strict";
import { pino } from "pino";
import { parseConfig } from "../../operator/config.ts";
import { type Action, awaitChange, Controller, requeueAfter } from "../../operator/controller.ts";
import { TerminalError } from "../../operator/errors.ts";
import { objectRef, type PluginRef } from "../../operator/keys.ts";
import { OperatorMetrics } from "../../operator/metrics.ts";
import { WorkQueue } from "../../operator/queue.ts";
import { TokenBucket } from "../../operator/rate-limiter.ts";
import { computeStatus, sameStatus } from "../../operator/status.ts";
import { Store } from "../../operator/store.ts";
import { WATCH_BACKOFF } from "../../operator/watcher.ts";
import { type Workload, workloadReady } from "../../operator/workloads.ts";
import { selectorMatches } from "../../src/inject/selector.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { Backoff } from "../../src/process/backoff.ts";

describe("operator units", () => {
  describe("WorkQueue", () => {
    it("hands a key out once, never to two workers, and re-queues a key added while in progress", async () => {
      const q = new WorkQueue();
      q.add("a");
      q.add("a");
      q.add("b");
      assert.equal(q.length, 2);
      const k1 = await q.get();
      assert.equal(k1, "a");
      q.add("a");
      assert.equal(await q.get(), "b");
      assert.equal(q.length, 0);
      q.done("a");
      assert.equal(await q.get(), "a");
    });

    it("backs a failing key off exponentially and forgets on success", async () => {
      const q = new WorkQueue({}, 5, 40);
      for (let i = 0; i < 5; i++) q.addRateLimited("x");
      assert.equal(q.failures("x"), 5);
      q.forget("x");
      assert.equal(q.failures("x"), 0);
      q.shutDown();
    });

    it("counts adds and retries through its metric hooks, and ends waiting workers on shutdown", async () => {
      let adds = 0;
      let retries = 0;
      const q = new WorkQueue({ add: () => adds++, retry: () => retries++ }, 1, 1);
      q.add("a");
      q.addRateLimited("b");
      const waiting = [q.get(), q.get()];
      assert.equal(await waiting[0], "a");
      assert.equal(await waiting[1], "b");
      const third = q.get();
      q.shutDown();
      assert.equal(await third, undefined);
      assert.deepEqual([adds, retries], [2, 1]);
      q.add("c");
      assert.equal(await q.get(), undefined);
    });
  });

  describe("WorkQueue.addAfter", () => {
    it("coalesces adds while one is pending", async () => {
      let adds = 0;
      const q = new WorkQueue({ add: () => adds++ });
      for (let i = 0; i < 5; i++) q.addAfter("a", 20);
      assert.equal(await q.get(), "a");
      q.done("a");
      assert.equal(adds, 1);
      q.shutDown();
    });
  });

  describe("Store", () => {
    type O = { metadata: { name: string; namespace: string; labels?: Record<string, string> } };
    const o = (ns: string, name: string, labels: Record<string, string> = {}): O => ({
      metadata: { name, namespace: ns, labels },
    });
    it("indexes by namespace and index function, follows replacements and deletes, and freezes what it holds", () => {
      const s = new Store<O>({ label: (x) => Object.entries(x.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`) });
      s.set("a/x", o("a", "x", { app: "web" }));
      s.set("a/y", o("a", "y", { app: "db" }));
      s.set("b/x", o("b", "x", { app: "web" }));
      assert.deepEqual(
        [...s.list("a")].map((x) => x.metadata.name),
        ["x", "y"],
      );
      assert.deepEqual(
        [...s.byIndex("label", "a", "app=web")].map((x) => x.metadata.name),
        ["x"],
      );
      s.set("a/x", o("a", "x", { app: "db" }));
      assert.deepEqual([...s.byIndex("label", "a", "app=web")], []);
      assert.deepEqual(
        [...s.byIndex("label", "a", "app=db")].map((x) => x.metadata.name),
        ["y", "x"],
      );
      s.delete("a/y");
      assert.deepEqual(
        [...s.list("a")].map((x) => x.metadata.name),
        ["x"],
      );
      assert.equal(s.size, 2);
      assert.ok(Object.isFrozen(s.get("a/x")!.metadata.labels));
      assert.throws(() => s.byIndex("nope", "a", "x"), /no index nope/);
    });
  });

  describe("Controller", () => {
    const log = pino({ level: "silent" });
    const ref = objectRef("Plugin", "ns", "a");
    async function runWith(
      reconcile: (r: PluginRef) => Promise<Action>,
      until: () => boolean,
      thenMs = 0,
    ): Promise<OperatorMetrics> {
      const metrics = new OperatorMetrics();
      const c = new Controller<PluginRef>("test", { reconcile }, log, metrics, { concurrency: 2 });
      c.start();
      c.enqueue(ref);
      const deadline = Date.now() + 5000;
      while (!until() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      // Long enough for several back-off retries (5, 10, 20, 40 ms) had there been any.
      await new Promise((r) => setTimeout(r, thenMs));
      await c.stop(100);
      return metrics;
    }
    const count = async (m: OperatorMetrics, name: string): Promise<number> =>
      (await m.registry.getSingleMetric(name)!.get()).values.reduce((a, v) => a + v.value, 0);

    it("does not retry a TerminalError, and counts it", async () => {
      let calls = 0;
      const m = await runWith(
        async () => {
          calls++;
          throw new TerminalError("refused");
        },
        () => calls >= 1,
        150,
      );
      assert.equal(calls, 1);
      assert.equal(await count(m, "controller_runtime_terminal_reconcile_errors_total"), 1);
    });

    it("retries any other error with backoff, and honours requeueAfter", async () => {
      let calls = 0;
      await runWith(
        async () => {
          calls++;
          if (calls < 3) throw new Error("transient");
          return calls < 4 ? requeueAfter(10) : awaitChange;
        },
        () => calls >= 4,
      );
      assert.equal(calls, 4);
    });
  });

  describe("the watch reconnect back-off (the shared Backoff with WATCH_BACKOFF)", () => {
    it("grows from 800 ms to at most 30 s with jitter, and resets after a quiet spell", () => {
      let t = 1_000_000;
      const b = new Backoff(WATCH_BACKOFF, { now: () => t });
      const d = [b.next().delayMs, b.next().delayMs, b.next().delayMs];
      assert.ok(d[0]! >= 400 && d[0]! <= 1200, String(d[0]));
      assert.ok(d[2]! >= 1600 && d[2]! <= 4800, String(d[2]));
      for (let i = 0; i < 20; i++) assert.ok(b.next().delayMs <= 45_000);
      t += 200_000;
      assert.ok(b.next().delayMs <= 1200);
    });
  });

  describe("selectorMatches", () => {
    const labels = { app: "x", tier: "web" };
    const cases: [string, Parameters<typeof selectorMatches>[0], boolean][] = [
      ["matchLabels", { matchLabels: { app: "x" } }, true],
      ["matchLabels mismatch", { matchLabels: { app: "y" } }, false],
      ["In", { matchExpressions: [{ key: "tier", operator: "In", values: ["web", "db"] }] }, true],
      ["NotIn", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["web"] }] }, false],
      ["Exists", { matchExpressions: [{ key: "app", operator: "Exists" }] }, true],
      ["DoesNotExist", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, false],
      ["an unknown operator matches nothing", { matchExpressions: [{ key: "app", operator: "Like" }] }, false],
      ["an empty selector matches nothing", {}, false],
      ["no selector matches nothing", undefined, false],
    ];
    for (const [what, sel, want] of cases) it(what, () => assert.equal(selectorMatches(sel, labels), want));
  });

  describe("status", () => {
    const p: Plugin = {
      apiVersion: "podplug.io/v1alpha1",
      kind: "Plugin",
      metadata: { name: "kv", generation: 3 },
      spec: {
        image: "i",
        handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [1] },
        selector: { matchLabels: { a: "b" } },
      },
    };
    it("reports NoWorkloads, Injecting, WorkloadsNotReady and Ready with observedGeneration", () => {
      const reason = (v: Parameters<typeof computeStatus>[1], err?: string): string[] =>
        computeStatus(p, v, "T", err).conditions!.map(
          (c) => `${c.type}=${c.status}/${c.reason}@${c.observedGeneration}`,
        );
      assert.deepEqual(reason([]), ["Ready=False/NoWorkloads@3", "Injected=False/NoWorkloads@3"]);
      assert.deepEqual(reason([{ kind: "Deployment", name: "a", injected: false, ready: false }]), [
        "Ready=False/Injecting@3",
        "Injected=False/Injecting@3",
      ]);
      assert.deepEqual(reason([{ kind: "Deployment", name: "a", injected: true, ready: false }]), [
        "Ready=False/WorkloadsNotReady@3",
        "Injected=True/Injected@3",
      ]);
      assert.deepEqual(reason([{ kind: "Deployment", name: "a", injected: true, ready: true }]), [
        "Ready=True/Ready@3",
        "Injected=True/Injected@3",
      ]);
      assert.deepEqual(reason([{ kind: "Deployment", name: "a", injected: true, ready: true }], "boom"), [
        "Ready=False/InjectFailed@3",
        "Injected=False/InjectFailed@3",
      ]);
    });
    it("keeps lastTransitionTime while a condition keeps its status, and sameStatus sees no change", () => {
      const v = [{ kind: "Deployment" as const, name: "a", injected: true, ready: false }];
      const first = computeStatus(p, v, "T1");
      const second = computeStatus({ ...p, status: first }, v, "T2");
      assert.ok(second.conditions!.every((c) => c.lastTransitionTime === "T1"));
      assert.ok(sameStatus(first, second));
      const third = computeStatus({ ...p, status: second }, [{ ...v[0]!, ready: true }], "T3");
      assert.equal(third.conditions!.find((c) => c.type === "Ready")!.lastTransitionTime, "T3");
      assert.ok(!sameStatus(second, third));
    });
    it("sameStatus ignores conditions of other field managers (the watchdog's), so they cause no write", () => {
      const v = [{ kind: "Deployment" as const, name: "a", injected: true, ready: true }];
      const mine = computeStatus(p, v, "T1");
      const foreign = { type: "SidecarsInjected", status: "True" as const, reason: "AllInjected", message: "m" };
      const stored = { ...mine, conditions: [...mine.conditions!, { ...foreign, lastTransitionTime: "T0" }] };
      assert.ok(sameStatus(stored, computeStatus({ ...p, status: stored }, v, "T2")));
      // A change of its own conditions still counts.
      assert.ok(!sameStatus(stored, computeStatus({ ...p, status: stored }, [{ ...v[0]!, ready: false }], "T2")));
    });
  });
  describe("workloadReady", () => {
    const w = (spec: Workload["spec"], status: Workload["status"], generation = 1): Workload => ({
      metadata: { name: "a", namespace: "n", generation },
      spec,
      status,
    });
    it("needs the current generation rolled out and every replica ready", () => {
      assert.equal(
        workloadReady(
          "Deployment",
          w({ replicas: 2 }, { observedGeneration: 1, readyReplicas: 2, updatedReplicas: 2 }),
        ),
        true,
      );
      assert.equal(
        workloadReady(
          "Deployment",
          w({ replicas: 2 }, { observedGeneration: 0, readyReplicas: 2, updatedReplicas: 2 }),
        ),
        false,
      );
      assert.equal(
        workloadReady(
          "StatefulSet",
          w({ replicas: 2 }, { observedGeneration: 1, readyReplicas: 1, updatedReplicas: 2 }),
        ),
        false,
      );
      assert.equal(
        workloadReady(
          "DaemonSet",
          w({}, { observedGeneration: 1, desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 3 }),
        ),
        true,
      );
      assert.equal(workloadReady("DaemonSet", w({}, { observedGeneration: 1, desiredNumberScheduled: 0 })), false);
    });
  });

  describe("TokenBucket (client-go's QPS and Burst)", () => {
    it("lets a burst through at once, then one request per 1/qps, and refills up to the burst only", () => {
      let now = 0;
      const b = new TokenBucket(10, 3, () => now);
      assert.deepEqual([b.reserve(), b.reserve(), b.reserve()], [0, 0, 0]);
      // Reservations queue in call order: the 4th waits 100 ms, the 5th 200 ms.
      assert.ok(Math.abs(b.reserve() - 100) < 1e-9);
      assert.ok(Math.abs(b.reserve() - 200) < 1e-9);
      now = 10_000; // ten seconds idle refill 100 tokens, capped at the burst of 3
      assert.deepEqual([b.reserve(), b.reserve(), b.reserve()], [0, 0, 0]);
      assert.ok(b.reserve() > 0);
    });
    it("with qps 0 never waits", () => {
      const b = new TokenBucket(0, 1, () => 0);
      for (let i = 0; i < 1000; i++) assert.equal(b.reserve(), 0);
    });
    it("refuses a negative or infinite qps and a burst below 1", () => {
      assert.throws(() => new TokenBucket(-1, 1), RangeError);
      assert.throws(() => new TokenBucket(Number.POSITIVE_INFINITY, 1), RangeError);
      assert.throws(() => new TokenBucket(Number.NaN, 1), RangeError);
      assert.throws(() => new TokenBucket(5, 0), RangeError);
      assert.throws(() => new TokenBucket(5, 1.5), RangeError);
    });
  });

  describe("parseConfig", () => {
    it("reads the client's rate limit from flags or KUBE_API_QPS/KUBE_API_BURST, default 400/800", () => {
      const d = parseConfig([], {});
      assert.deepEqual([d.kubeApiQps, d.kubeApiBurst], [400, 800]);
      const e = parseConfig([], { KUBE_API_QPS: "50.5", KUBE_API_BURST: "60" });
      assert.deepEqual([e.kubeApiQps, e.kubeApiBurst], [50.5, 60]);
      const f = parseConfig(["--kube-api-qps=0", "--kube-api-burst", "1"], { KUBE_API_QPS: "5" });
      assert.deepEqual([f.kubeApiQps, f.kubeApiBurst], [0, 1]);
    });
    it("reads flags over environment, with controller-runtime's defaults", () => {
      const c = parseConfig(["--metrics-bind-address", "127.0.0.1:9090", "--watch-namespaces=a,b"], {
        LOG_LEVEL: "debug",
        POD_NAMESPACE: "ops",
        WATCH_NAMESPACES: "ignored",
      });
      assert.deepEqual(c.metricsAddr, { host: "127.0.0.1", port: 9090 });
      // Loopback unless told otherwise: out of cluster nothing listens on the machine's interfaces.
      assert.deepEqual(c.healthAddr, { host: "127.0.0.1", port: 8081 });
      assert.deepEqual(parseConfig(["--metrics-bind-address=:9090"], {}).metricsAddr, { host: "0.0.0.0", port: 9090 });
      assert.deepEqual(parseConfig(["--metrics-bind-address=[::1]:9090"], {}).metricsAddr, { host: "::1", port: 9090 });
      assert.deepEqual(c.watchNamespaces, ["a", "b"]);
      assert.equal(c.logLevel, "debug");
      assert.equal(c.leaderElectionNamespace, "ops");
      assert.equal(c.leaderElect, true);
    });
    const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [["--nope=1"], {}, /unknown flag --nope; known: --kubeconfig/],
      [["positional"], {}, /unexpected argument "positional"/],
      [["--log-level"], {}, /--log-level needs a value/],
      [["--metrics-bind-address=8080"], {}, /is not an address: use \[host\]:port/],
      [["--health-probe-bind-address=:99999"], {}, /is not an address/],
      [["--leader-elect=maybe"], {}, /use true or false/],
      [[], { LOG_LEVEL: "loud" }, /--log-level=loud: use one of/],
      [["--watch-namespaces=Bad_NS"], {}, /"Bad_NS" is not a namespace name/],
      [["--concurrency=0"], {}, /use an integer from 1 to 64/],
      [["--kube-api-qps=-1"], {}, /--kube-api-qps=-1: use a number from 0 \(no limit\) to 100000/],
      [["--kube-api-qps=fast"], {}, /--kube-api-qps=fast: use a number/],
      [[], { KUBE_API_QPS: " " }, /--kube-api-qps= : use a number/],
      [["--kube-api-burst=0"], {}, /--kube-api-burst=0: use an integer from 1 to 10000/],
      [["--kube-api-burst=2.5"], {}, /--kube-api-burst=2\.5: use an integer/],
      [[], { POD_NAMESPACE: "Not OK" }, /--leader-election-namespace=Not OK is not a namespace name/],
      [["--require-image-digests=yes"], {}, /--require-image-digests=yes: use true or false/],
    ];
    for (const [argv, env, msg] of bad) {
      it(`refuses ${argv.join(" ") || JSON.stringify(env)} with OPERATOR_BAD_FLAG`, () => {
        assert.throws(
          () => parseConfig(argv, env),
          (err: Error & { code?: string }) => err.code === "OPERATOR_BAD_FLAG" && msg.test(err.message),
        );
      });
    }
  });
});
