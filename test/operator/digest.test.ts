/**
 * Image digest pinning (issue 11) on the real apiserver: a digest in
 * spec.image is accepted and shown, a malformed one is refused at admission,
 * the policy (--require-image-digests) injects only pinned Plugins and says
 * why in the others' status, and the status shows the digest each workload's
 * pods run (their containerStatuses' imageID, written here as the kubelet
 * writes it) with a condition when it is not the pinned one.
 */
import assert from "node:assert/strict";
import { digestRefusal, imageDigest, runningDigest } from "../../operator/image-digest.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import { getJson, hostDeployment, initNames, pluginManifest, useNamespace, waitTemplate, yaml } from "./helpers.ts";

const cluster = useSharedCluster();
const D1 = `sha256:${"a1".repeat(32)}`;
const D2 = `sha256:${"b2".repeat(32)}`;

type Status = NonNullable<Plugin["status"]>;
const cond = (s: Status | undefined, type: string): string => {
  const x = s?.conditions?.find((k) => k.type === type);
  return `${x?.status}/${x?.reason}`;
};

describe("image digests: the pure parts", () => {
  it("reads the digest spec.image pins, and says what is wrong with a malformed one", () => {
    assert.deepEqual(imageDigest(`example/kv@${D1}`), { pinned: true, digest: D1 });
    assert.deepEqual(imageDigest(`registry:5000/example/kv:1.2@${D1}`), { pinned: true, digest: D1 });
    assert.deepEqual(imageDigest("example/kv:1"), { pinned: false });
    for (const bad of [
      "example/kv@sha256:abc",
      `example/kv@sha256:${"A1".repeat(32)}`,
      `example/kv@md5:${"a".repeat(32)}`,
      `@${D1}`,
      `example/kv@${D1}@${D1}`,
      "example/kv@",
    ]) {
      const d = imageDigest(bad);
      assert.ok("invalid" in d, bad);
      assert.match(d.invalid, /the digest after @ must be sha256: and 64 lowercase hex digits/);
    }
  });
  it("reads the digest a container runs from its imageID, whatever the runtime's prefix", () => {
    assert.equal(runningDigest(`docker.io/example/kv@${D1}`), D1);
    assert.equal(runningDigest(`docker-pullable://example/kv@${D1}`), D1);
    assert.equal(runningDigest(D2), undefined, "a bare config digest (an imported image) is no repository digest");
    assert.equal(runningDigest(""), undefined);
    assert.equal(runningDigest(undefined), undefined);
    assert.equal(runningDigest("sha256:short"), undefined);
  });
  it("refuses under the policy a Plugin without a digest, and a malformed digest always", () => {
    const p = (image: string) => pluginManifest("kv", { image }) as unknown as Plugin;
    assert.equal(digestRefusal(p("example/kv:1"), false), undefined);
    assert.equal(digestRefusal(p(`example/kv@${D1}`), true), undefined);
    const r = digestRefusal(p("example/kv:1"), true);
    assert.equal(r?.reason, "ImageDigestRequired");
    assert.match(
      r!.message,
      /pins no digest .*--require-image-digests.*example\/kv@sha256:<digest>; nothing is injected/,
    );
    assert.equal(digestRefusal(p("example/kv@sha256:abc"), false)?.reason, "ImageDigestInvalid");
  });
});

describe("image digests on the real apiserver, with --require-image-digests", function () {
  this.timeout(120_000);
  const NS = "op-digest";
  const fx = useNamespace(cluster, NS, { operatorArgs: ["--require-image-digests=true"] });

  it("refuses a malformed digest at admission, naming spec.image", async () => {
    const r = await fx
      .cluster()
      .kubectl(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("bad", { image: "example/kv@sha256:abc" })));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.image: Invalid value.*a digest is @sha256: and 64 lowercase hex digits/);
  });

  it("injects the pinned Plugin only; the unpinned one says why, with a Warning Event, and nothing of it is injected", async () => {
    const c = fx.cluster();
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("pinned", { image: `example/pinned@${D1}`, selector: { matchLabels: { app: "web" } } }),
        pluginManifest("tagged", { image: "example/tagged:1", selector: { matchLabels: { app: "web" } } }),
        hostDeployment("web", { app: "web" }),
      ),
    );
    const t = await waitTemplate(c, NS, "web", "web injected", (x) => initNames(x).includes("podplug-pinned"));
    assert.deepEqual(initNames(t), ["podplug-launcher", "podplug-pinned"]);
    const tagged = await waitFor(
      "tagged refused",
      async () => {
        const s = (await getJson<Plugin>(c, ["-n", NS, "plugin", "tagged"]))?.status;
        return cond(s, "Injected") === "False/ImageDigestRequired" ? s : undefined;
      },
      30_000,
      250,
    );
    assert.equal(cond(tagged, "Ready"), "False/ImageDigestRequired");
    assert.equal(tagged.workloadCount, 0);
    assert.match(tagged.conditions!.find((x) => x.type === "Injected")!.message, /pins no digest/);
    const events = await c.kubectlOk([
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=tagged,reason=ImageDigestRequired,type=Warning",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(events, /pins no digest/);
    // The pinned one is shown: in its status and in `kubectl get plugins -o wide`.
    const pinned = await waitFor("pinned's digest shown", async () => {
      const s = (await getJson<Plugin>(c, ["-n", NS, "plugin", "pinned"]))?.status;
      return s?.imageDigest === D1 && s.workloadCount === 1 ? s : undefined;
    });
    assert.equal(cond(pinned, "Injected"), "True/Injected");
    assert.equal(cond(pinned, "ImageDigest"), "True/PinnedDigestRunning");
    const wide = await c.kubectlOk(["-n", NS, "get", "plugins", "pinned", "-o", "wide"]);
    assert.match(wide.split("\n")[0]!, /DIGEST/);
    assert.ok(wide.includes(D1), wide);
    assert.ok(wide.includes(`example/pinned@${D1}`), wide);
  });

  it("shows the digest each workload's pods run, and a condition when a pod runs another than the pinned one", async () => {
    const c = fx.cluster();
    // A pod of Deployment web as its ReplicaSet makes it, its plugin container's status as the kubelet writes it.
    const hash = "5d8f9c";
    await c.kubectlOk(
      ["create", "-f", "-"],
      yaml({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "web-pod",
          namespace: NS,
          labels: { app: "web", "pod-template-hash": hash, "podplug.io/injected": "true" },
          annotations: { "podplug.io/plugins": "pinned" },
          ownerReferences: [
            {
              apiVersion: "apps/v1",
              kind: "ReplicaSet",
              name: `web-${hash}`,
              uid: crypto.randomUUID(),
              controller: true,
            },
          ],
        },
        spec: {
          automountServiceAccountToken: false,
          initContainers: [{ name: "podplug-pinned", image: `example/pinned@${D1}`, restartPolicy: "Always" }],
          containers: [{ name: "host", image: "example/host:1" }],
        },
      }),
    );
    const runs = (digest: string) =>
      c.kubectlOk([
        "-n",
        NS,
        "patch",
        "pod",
        "web-pod",
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            phase: "Running",
            initContainerStatuses: [
              {
                name: "podplug-pinned",
                image: "example/pinned:1",
                imageID: `docker.io/example/pinned@${digest}`,
                ready: true,
                restartCount: 0,
                started: true,
                state: { running: { startedAt: new Date().toISOString() } },
              },
            ],
          },
        }),
      ]);
    const status = (want: (s: Status) => boolean, what: string): Promise<Status> =>
      waitFor(
        what,
        async () => {
          const s = (await getJson<Plugin>(c, ["-n", NS, "plugin", "pinned"]))?.status;
          return s && want(s) ? s : undefined;
        },
        30_000,
        250,
      );
    await runs(D2);
    let s = await status((x) => cond(x, "ImageDigest") === "False/ImageDigestMismatch", "the mismatch reported");
    assert.deepEqual(s.workloads?.[0]?.digests, [D2]);
    const msg = s.conditions!.find((x) => x.type === "ImageDigest")!.message;
    assert.match(msg, new RegExp(`pinned ${D1}: Deployment web runs ${D2}`));
    const events = await c.kubectlOk([
      "-n",
      NS,
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=pinned,reason=ImageDigestMismatch,type=Warning",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.ok(events.includes(D2), events);
    await runs(D1);
    s = await status((x) => cond(x, "ImageDigest") === "True/PinnedDigestRunning", "the pinned digest running");
    assert.deepEqual(s.workloads?.[0]?.digests, [D1]);
  });
});
