/**
 * The Event recorder (operator/events.ts) against the real apiserver: what is
 * noted about one Plugin is one Event when its reconcile flushes it (no
 * window of its own splits it); what nobody flushes is posted after the
 * quiet window; other targets wait for their own flush.
 */
import assert from "node:assert/strict";
import { pino } from "pino";
import { KubeClient } from "../../operator/client.ts";
import { EventRecorder, type EventTarget } from "../../operator/events.ts";
import { kubeconfigCredentials } from "../../operator/kubeconfig.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import { createNamespace } from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "events-test";

const target = (name: string): EventTarget => ({
  apiVersion: "podplug.io/v1alpha1",
  kind: "Plugin",
  name,
  namespace: NS,
  uid: `00000000-0000-4000-8000-${name.padStart(12, "0")}`,
});

describe("the operator's Event recorder (real apiserver)", function () {
  this.timeout(60_000);
  let c: TestCluster;
  let client: KubeClient;
  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await createNamespace(c, NS);
    client = new KubeClient(await kubeconfigCredentials(c.kubeconfig));
  });
  after(() => client?.close());

  const messages = async (name: string): Promise<string[]> =>
    (
      await client.request<{ items: { message: string }[] }>("GET", `/api/v1/namespaces/${NS}/events`, {
        query: { fieldSelector: `involvedObject.name=${name}` },
      })
    ).items.map((e) => e.message);

  it("posts one Event per target when it is flushed, listing everything noted since (each item once)", async () => {
    const rec = new EventRecorder(client, pino({ level: "silent" }), { quietMs: 60_000, maxMs: 60_000 });
    for (let i = 0; i < 12; i++) {
      rec.note(target("a"), "Normal", "Injected", "sidecar podplug-a added to", `Deployment w${i}`);
      rec.note(target("b"), "Normal", "Injected", "sidecar podplug-b added to", `Deployment w${i}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    rec.note(target("a"), "Normal", "Injected", "sidecar podplug-a added to", "Deployment w0"); // listed once
    rec.flushTarget(target("a"));
    const a = await waitFor("a's Event", async () => {
      const m = await messages("a");
      return m.length > 0 ? m : undefined;
    });
    assert.deepEqual(a, [
      "sidecar podplug-a added to 12 workloads: Deployment w0, Deployment w1, Deployment w10, Deployment w11, Deployment w2, Deployment w3, Deployment w4, Deployment w5, Deployment w6, Deployment w7, and 2 more",
    ]);
    assert.deepEqual(await messages("b"), [], "b waits for its own flush");
    await rec.close(5000); // posts what is left: b's
    assert.equal((await messages("b")).length, 1);
    assert.equal((await messages("a")).length, 1, "a was posted once");
  });

  it("keeps a target's notes until its own flush", async () => {
    const rec = new EventRecorder(client, pino({ level: "silent" }), { quietMs: 60_000, maxMs: 60_000 });
    rec.note(target("c"), "Normal", "Removed", "sidecar podplug-c removed from", "Deployment x");
    rec.note(target("d"), "Normal", "Injected", "sidecar podplug-d added to", "Deployment x");
    rec.flushTarget(target("d"));
    await waitFor("d's Event", async () => (await messages("d")).length === 1);
    assert.deepEqual(await messages("c"), [], "c was not flushed with d");
    await rec.close(5000);
    assert.deepEqual(await messages("c"), ["sidecar podplug-c removed from Deployment x"], "close() posts the rest");
    assert.deepEqual(await messages("d"), ["sidecar podplug-d added to Deployment x"], "d posted once");
  });

  it("posts what nobody flushes once it has been quiet for the window", async () => {
    const rec = new EventRecorder(client, pino({ level: "silent" }), { quietMs: 300, maxMs: 5_000 });
    try {
      rec.note(target("e"), "Normal", "Removed", "sidecar podplug-e removed from", "Deployment x");
      rec.note(target("e"), "Normal", "Removed", "sidecar podplug-e removed from", "Deployment y");
      const m = await waitFor("e's Event without a flush", async () => {
        const l = await messages("e");
        return l.length > 0 ? l : undefined;
      });
      assert.deepEqual(m, ["sidecar podplug-e removed from 2 workloads: Deployment x, Deployment y"]);
    } finally {
      await rec.close(5000);
    }
  });
});
