import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import {
  getJson,
  hostDeployment,
  initNames,
  metric,
  type OperatorHandle,
  pluginManifest,
  ROOT,
  type TemplateView,
  template,
  useNamespace,
  waitQuiet,
  waitTemplate,
  yaml,
} from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "reconcile-test";

interface PluginView {
  metadata: { finalizers?: string[]; generation: number };
  status?: {
    workloadCount?: number;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; observedGeneration?: number }[];
  };
}

describe("operator reconciles Plugins into workloads on the real apiserver", function () {
  this.timeout(120_000);
  const fx = useNamespace(cluster, NS, { operatorArgs: ["--launcher-image=podplug:test"] });
  let c: TestCluster;
  let op: OperatorHandle;
  before(() => {
    c = fx.cluster();
    op = fx.operator();
  });
  /** Waits for Plugin `name`'s Injected False/InjectFailed condition; returns its InjectFailed Events' messages. */
  async function injectFailed(name: string): Promise<string> {
    const cond = await waitFor("InjectFailed", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", name]);
      const x = v?.status?.conditions?.find((k) => k.type === "Injected");
      return x?.reason === "InjectFailed" ? x : undefined;
    });
    assert.equal(cond.status, "False");
    return c.kubectlOk([
      "get",
      "events",
      "-n",
      NS,
      "--field-selector",
      `involvedObject.name=${name},reason=InjectFailed`,
      "-o",
      "jsonpath={.items[*].message}",
    ]);
  }
  after(() => assert.equal(fx.exitCode(), 0, `the operator did not exit 0 on SIGTERM:\n${op?.proc.tail(30)}`));

  it("injects the examples' Plugins (examples/demo) into their host Deployment: sidecars, volume, env and probes", async () => {
    await c.kubectlOk([
      "apply",
      "-n",
      NS,
      "-f",
      join(ROOT, "examples/demo/plugins.yaml"),
      "-f",
      join(ROOT, "examples/demo/host.yaml"),
    ]);
    const t = await waitTemplate(
      c,
      NS,
      "demo-host",
      "demo injected",
      (x) => initNames(x).includes("podplug-kv") && initNames(x).includes("podplug-counter"),
    );
    assert.deepEqual(initNames(t), ["podplug-launcher", "podplug-counter", "podplug-kv"]);
    const kv = t.spec.initContainers!.find((x) => x.name === "podplug-kv")! as NonNullable<
      TemplateView["spec"]["initContainers"]
    >[number] & { command?: string[] };
    assert.equal(kv.restartPolicy, "Always");
    assert.deepEqual(kv.command, ["/podplug/bin/podplug-launcher", "run", "--", "node", "examples/kv/plugin.ts"]);
    assert.deepEqual((kv.livenessProbe as { exec?: { command?: string[] } }).exec, {
      command: ["/podplug/bin/podplug-launcher", "probe", "-timeout", "800ms"],
    });
    // The apiserver keeps the probe-level grace (a hung plugin is SIGKILLed 1 s after SIGTERM, not 30 s).
    assert.equal(kv.livenessProbe!.terminationGracePeriodSeconds, 1);
    // Its own socket folder, and a writable scratch emptyDir at /tmp (read-only root); the image's WORKDIR is kept.
    assert.deepEqual(kv.volumeMounts, [
      { name: "podplug-sockets", mountPath: "/var/run/podplug/kv", subPath: "kv" },
      { name: "podplug-tmp-kv", mountPath: "/tmp", subPath: "tmp" },
      { name: "podplug-bin", mountPath: "/podplug/bin", readOnly: true },
    ]);
    assert.equal((kv as { workingDir?: string }).workingDir, undefined);
    const scratch = t.spec.volumes!.find((v) => v.name === "podplug-tmp-kv") as { emptyDir?: { sizeLimit?: string } };
    assert.deepEqual(scratch.emptyDir, { sizeLimit: "64Mi" });
    const env = Object.fromEntries(kv.env!.map((e) => [e.name, e.value]));
    assert.equal(env.BASIC_PLUGIN, "hello");
    assert.equal(env.PLUGIN_PROTOCOL_VERSIONS, "1");
    assert.equal(env.PLUGIN_UNIX_SOCKET_DIR, "/var/run/podplug/kv");
    assert.equal(env.PODPLUG_HANDSHAKE_FILE, "/var/run/podplug/kv/handshake");
    assert.equal(env.KV_DIR, "/var/run/podplug/kv");
    assert.ok(t.spec.volumes!.some((v) => v.name === "podplug-sockets"));
    const host = t.spec.containers.find((x) => x.name === "host")!;
    assert.deepEqual(
      host.env!.map((e) => `${e.name}=${e.value}`),
      ["DEMO_METRICS_PORT=9465", "PODPLUG_SOCKET_ROOT=/var/run/podplug", "PODPLUG_PLUGINS=counter,kv"],
    );
    assert.deepEqual(host.volumeMounts, [
      { name: "podplug-sockets", mountPath: "/var/run/podplug" },
      { name: "podplug-bin", mountPath: "/podplug/bin", readOnly: true },
    ]);
  });

  it("sets the finalizer and a status with observedGeneration, shown by kubectl get plugins", async () => {
    const p = await waitFor("kv status", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "kv"]);
      return v?.status?.workloadCount === 1 ? v : undefined;
    });
    assert.deepEqual(p.metadata.finalizers, ["podplug.io/cleanup"]);
    assert.equal(p.status!.observedGeneration, p.metadata.generation);
    const injected = p.status!.conditions!.find((x) => x.type === "Injected")!;
    assert.deepEqual(
      [injected.status, injected.reason, injected.observedGeneration],
      ["True", "Injected", p.metadata.generation],
    );
    // No kubelet runs pods in this cluster, so the workload is injected but not ready.
    const ready = p.status!.conditions!.find((x) => x.type === "Ready")!;
    assert.deepEqual([ready.status, ready.reason], ["False", "WorkloadsNotReady"]);
    const row = (await c.kubectlOk(["get", "plugins", "kv", "-n", NS, "--no-headers"])).trim();
    assert.match(row, /^kv\s+ghcr\.io\/podplug\/example-kv:0\.1\.0\s+\[1\]\s+1\s+0\s+WorkloadsNotReady\s+\S+$/);
  });

  it("follows a changed spec: new image and env in the template, observedGeneration moves on", async () => {
    const m = pluginManifest("change", { selector: { matchLabels: { change: "yes" } } }) as {
      spec: Record<string, unknown>;
    };
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(m, hostDeployment("change-host", { change: "yes" })));
    await waitTemplate(c, NS, "change-host", "v1 injected", (t) => initNames(t).includes("podplug-change"));
    m.spec.image = "example/change:2";
    m.spec.env = [{ name: "NEW", value: "yes" }];
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(m));
    const t = await waitTemplate(c, NS, "change-host", "v2 injected", (x) =>
      (x.spec.initContainers ?? []).some(
        (k) => k.name === "podplug-change" && (k as { image?: string }).image === "example/change:2",
      ),
    );
    const k = t.spec.initContainers!.find((x) => x.name === "podplug-change")!;
    assert.equal(k.env!.find((e) => e.name === "NEW")?.value, "yes");
    const p = await waitFor("observedGeneration 2", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "change"]);
      return v?.status?.observedGeneration === 2 ? v : undefined;
    });
    assert.ok(p.status!.conditions!.every((x) => x.observedGeneration === 2));
  });

  it("AutoMTLS: creates the host certificate Secret owned by the Plugin and wires it into the template", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("secure", { autoMTLS: true, selector: { matchLabels: { secure: "yes" } } }),
        hostDeployment("secure-host", { secure: "yes" }),
      ),
    );
    const t = await waitTemplate(c, NS, "secure-host", "secure injected", (x) =>
      initNames(x).includes("podplug-secure"),
    );
    const k = t.spec.initContainers!.find((x) => x.name === "podplug-secure")! as {
      env: { name: string; valueFrom?: unknown }[];
    };
    assert.deepEqual(k.env.find((e) => e.name === "PLUGIN_CLIENT_CERT")?.valueFrom, {
      secretKeyRef: { name: "podplug-secure-mtls", key: "tls.crt" },
    });
    assert.ok(t.spec.volumes!.some((v) => v.name === "podplug-mtls-secure"));
    const secret = await waitFor("Secret", () =>
      getJson<{
        type: string;
        data: Record<string, string>;
        metadata: { ownerReferences: { kind: string; name: string; uid: string }[] };
      }>(c, ["-n", NS, "secret", "podplug-secure-mtls"]),
    );
    const plugin = await getJson<{ metadata: { uid: string } }>(c, ["-n", NS, "plugin", "secure"]);
    assert.equal(secret.type, "kubernetes.io/tls");
    assert.deepEqual(
      secret.metadata.ownerReferences.map((o) => [o.kind, o.name, o.uid]),
      [["Plugin", "secure", plugin!.metadata.uid]],
    );
    const { X509Certificate, createPrivateKey } = await import("node:crypto");
    const cert = new X509Certificate(Buffer.from(secret.data["tls.crt"]!, "base64"));
    assert.match(cert.subject, /CN=localhost/);
    assert.ok(cert.checkPrivateKey(createPrivateKey(Buffer.from(secret.data["tls.key"]!, "base64"))));
  });

  it("records an Injected Event on the Plugin", async () => {
    const ev = await waitFor("Injected event", async () => {
      const out = await c.kubectlOk([
        "get",
        "events",
        "-n",
        NS,
        "--field-selector",
        "involvedObject.kind=Plugin,involvedObject.name=kv,reason=Injected",
        "-o",
        "jsonpath={.items[*].message}",
      ]);
      return out || undefined;
    });
    assert.match(ev, /sidecar podplug-kv added to Deployment demo-host/);
  });

  it("puts two Plugins into one workload, each with only its own folder", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("alpha", { selector: { matchLabels: { tier: "both" } } }),
        pluginManifest("beta", {
          selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["both", "beta"] }] },
        }),
        hostDeployment("two-host", { tier: "both" }, ["host", "sidecar-proxy"]),
      ),
    );
    const t = await waitTemplate(
      c,
      NS,
      "two-host",
      "alpha and beta injected",
      (x) => initNames(x).includes("podplug-alpha") && initNames(x).includes("podplug-beta"),
    );
    assert.deepEqual(initNames(t), ["podplug-launcher", "podplug-alpha", "podplug-beta"]);
    assert.equal(t.metadata!.annotations!["podplug.io/plugins"], "alpha,beta");
    for (const h of t.spec.containers)
      assert.equal(h.env!.find((e) => e.name === "PODPLUG_PLUGINS")!.value, "alpha,beta", h.name);
    const mounts = t.spec
      .initContainers!.filter((x) => x.name !== "podplug-launcher")
      .map((x) => x.volumeMounts![0]!.subPath);
    assert.deepEqual(mounts, ["alpha", "beta"]);
  });

  it("deleting a Plugin removes exactly podplug's fields and leaves other managers' fields", async () => {
    const ns = NS;
    await c.kubectlOk(
      ["apply", "-n", ns, "-f", "-"],
      yaml(
        pluginManifest("solo", { selector: { matchLabels: { solo: "yes" } } }),
        hostDeployment("solo-host", { solo: "yes" }),
      ),
    );
    await waitTemplate(c, ns, "solo-host", "solo injected", (x) => initNames(x).includes("podplug-solo"));
    // Another manager adds its own fields to the same lists and maps podplug writes into.
    await c.kubectlOk(
      ["apply", "--server-side", "--field-manager=other-team", "-n", ns, "-f", "-"],
      yaml({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "solo-host" },
        spec: {
          template: {
            metadata: { annotations: { "other-team/owner": "x" } },
            spec: {
              initContainers: [
                {
                  name: "warmup",
                  image: "example/warmup:1",
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
              ],
              containers: [{ name: "host", env: [{ name: "OTHER", value: "kept" }] }],
              volumes: [{ name: "scratch", emptyDir: {} }],
            },
          },
        },
      }),
    );
    const withBoth = await template(c, ns, "solo-host");
    assert.ok(initNames(withBoth).includes("warmup") && initNames(withBoth).includes("podplug-solo"));

    await c.kubectlOk(["delete", "plugin", "solo", "-n", ns, "--wait=true", "--timeout=30s"]);
    const t = await waitTemplate(
      c,
      ns,
      "solo-host",
      "solo removed",
      (x) => !initNames(x).some((n) => n.startsWith("podplug-")),
    );
    assert.deepEqual(initNames(t), ["warmup"]);
    assert.deepEqual(
      (t.spec.volumes ?? []).map((v) => v.name),
      ["scratch"],
    );
    assert.deepEqual(t.metadata!.annotations, { "other-team/owner": "x" });
    const host = t.spec.containers[0]!;
    assert.deepEqual(
      host.env!.map((e) => `${e.name}=${e.value}`),
      ["HOST_MODE=sidecar", "OTHER=kept"],
    );
    assert.equal(host.volumeMounts, undefined);
    const d = await getJson<{ metadata: { managedFields: { manager: string }[] } }>(c, [
      "-n",
      ns,
      "deployment",
      "solo-host",
      "--show-managed-fields",
    ]);
    assert.ok(!d!.metadata.managedFields.some((m) => m.manager === "podplug"), "podplug still owns fields");
    assert.equal(await getJson(c, ["-n", ns, "plugin", "solo"]), undefined);
  });

  it("relabelling the workload out of the selector removes the sidecar; back in re-injects it", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("relabel", { selector: { matchLabels: { relabel: "in" } } }),
        hostDeployment("relabel-host", { relabel: "in" }),
      ),
    );
    const injected = await waitTemplate(c, NS, "relabel-host", "injected", (x) =>
      initNames(x).includes("podplug-relabel"),
    );
    await c.kubectlOk(["label", "-n", NS, "deployment", "relabel-host", "relabel=out", "--overwrite"]);
    const removed = await waitTemplate(
      c,
      NS,
      "relabel-host",
      "removed",
      (x) => (x.spec.initContainers ?? []).length === 0,
    );
    assert.deepEqual(
      removed.spec.containers[0]!.env!.map((e) => e.name),
      ["HOST_MODE"],
    );
    assert.equal(removed.spec.volumes, undefined);
    assert.equal(removed.metadata!.annotations, undefined);
    await c.kubectlOk(["label", "-n", NS, "deployment", "relabel-host", "relabel=in", "--overwrite"]);
    const again = await waitTemplate(c, NS, "relabel-host", "re-injected", (x) =>
      initNames(x).includes("podplug-relabel"),
    );
    assert.deepEqual(again.spec, injected.spec);
    const status = await waitFor("status back to 1", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "relabel"]);
      return v?.status?.workloadCount === 1 ? v.status : undefined;
    });
    assert.equal(status.workloadCount, 1);
  });

  it("injects into StatefulSets and DaemonSets, and honours workloadKinds", async () => {
    const podSpec = (hostDeployment("x", {}) as { spec: { template: unknown } }).spec.template;
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("kinds", {
          selector: { matchLabels: { kinds: "yes" } },
          workloadKinds: ["StatefulSet", "DaemonSet"],
        }),
        {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: { name: "sts-host", labels: { kinds: "yes" } },
          spec: { serviceName: "sts", selector: { matchLabels: { app: "x" } }, template: podSpec },
        },
        {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: { name: "ds-host", labels: { kinds: "yes" } },
          spec: { selector: { matchLabels: { app: "x" } }, template: podSpec },
        },
        hostDeployment("deploy-not-a-kind", { kinds: "yes" }),
      ),
    );
    await waitTemplate(c, NS, "sts-host", "sts injected", (x) => initNames(x).includes("podplug-kinds"), "statefulset");
    await waitTemplate(c, NS, "ds-host", "ds injected", (x) => initNames(x).includes("podplug-kinds"), "daemonset");
    const st = await waitFor("kinds status", async () => {
      const v = await getJson<PluginView & { status?: { workloads?: { kind: string; name: string }[] } }>(c, [
        "-n",
        NS,
        "plugin",
        "kinds",
      ]);
      return v?.status?.workloadCount === 2 ? v.status : undefined;
    });
    assert.deepEqual(
      st.workloads!.map((w) => `${w.kind}/${w.name}`),
      ["DaemonSet/ds-host", "StatefulSet/sts-host"],
    );
    assert.deepEqual(initNames(await template(c, NS, "deploy-not-a-kind")), []);
  });

  it("reports a host container named like a sidecar as InjectFailed, with a Warning Event, and still injects the other Plugins", async () => {
    const d = hostDeployment("clash-host", { clash: "yes" }, ["podplug-clash"]);
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("clash", { selector: { matchLabels: { clash: "yes" } } }),
        pluginManifest("bystander", { selector: { matchLabels: { clash: "yes" } } }),
        d,
      ),
    );
    const msg = await injectFailed("clash");
    assert.match(msg, /host container podplug-clash uses the name of this plugin's sidecar .*rename the container/);
    const t = await waitTemplate(c, NS, "clash-host", "bystander injected", (x) =>
      initNames(x).includes("podplug-bystander"),
    );
    assert.deepEqual(initNames(t), ["podplug-launcher", "podplug-bystander"]);
    // Renaming the container resolves it: the Plugin joins and its condition clears.
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(hostDeployment("clash-host", { clash: "yes" }, ["app"])));
    await waitTemplate(c, NS, "clash-host", "clash injected", (x) => initNames(x).includes("podplug-clash"));
    await waitFor("Injected True", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "clash"]);
      return v?.status?.conditions?.find((k) => k.type === "Injected")?.status === "True";
    });
  });

  it("a workload's podplug.io/plugin-versions refuses a Plugin outside its range (InjectFailed, Warning Event), injects the one inside it, and takes the other once its version moves in", async () => {
    const d = hostDeployment("versioned-host", { versioned: "yes" }) as {
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    };
    d.spec.template.metadata.annotations = { "podplug.io/plugin-versions": "vnew=^2.0.0, vok=>=1.0.0" };
    const sel = { selector: { matchLabels: { versioned: "yes" } } };
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("vnew", { ...sel, version: "1.9.0" }),
        pluginManifest("vok", { ...sel, version: "1.0.0" }),
        d,
      ),
    );
    const msg = await injectFailed("vnew");
    assert.match(msg, /plugin vnew is version 1\.9\.0, outside the range \^2\.0\.0 the workload accepts/);
    const t = await waitTemplate(c, NS, "versioned-host", "vok injected", (x) => initNames(x).includes("podplug-vok"));
    assert.deepEqual(initNames(t), ["podplug-launcher", "podplug-vok"]);
    const applied = await getJson<{ metadata: { managedFields: { manager: string; fieldsV1: unknown }[] } }>(c, [
      "-n",
      NS,
      "deployment",
      "versioned-host",
      "--show-managed-fields",
    ]);
    const podplugFields = JSON.stringify(applied?.metadata.managedFields.filter((m) => m.manager === "podplug"));
    assert.doesNotMatch(podplugFields, /plugin-versions/, "the annotation stays the workload's own field");
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("vnew", { ...sel, version: "2.1.0" })));
    await waitTemplate(c, NS, "versioned-host", "vnew injected", (x) => initNames(x).includes("podplug-vnew"));
    await waitFor("Injected True", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "vnew"]);
      return v?.status?.conditions?.find((k) => k.type === "Injected")?.status === "True";
    });
  });

  it("posts one Injected Event listing the workloads a Plugin joined together", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        hostDeployment("many-0", { many: "yes" }),
        hostDeployment("many-1", { many: "yes" }),
        hostDeployment("many-2", { many: "yes" }),
      ),
    );
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("many", { selector: { matchLabels: { many: "yes" } } })),
    );
    const events = await waitFor("the Injected Event", async () => {
      const l = await getJson<{ items: { message: string }[] }>(c, [
        "-n",
        NS,
        "events",
        "--field-selector",
        "involvedObject.name=many,reason=Injected",
      ]);
      return l!.items.length > 0 ? l!.items : undefined;
    });
    assert.deepEqual(
      events.map((e) => e.message),
      ["sidecar podplug-many added to 3 workloads: Deployment many-0, Deployment many-1, Deployment many-2"],
    );
  });

  it("posts a Warning Event when a Plugin's selector matches no workload", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("lonely", { selector: { matchLabels: { nothing: "here" } } })),
    );
    const ev = await waitFor("the NoWorkloads Event", async () => {
      const l = await getJson<{ items: { type: string; message: string }[] }>(c, [
        "-n",
        NS,
        "events",
        "--field-selector",
        "involvedObject.name=lonely,reason=NoWorkloads",
      ]);
      return l!.items[0];
    });
    assert.equal(ev.type, "Warning");
    assert.match(
      ev.message,
      /^spec\.selector matches no Deployment, StatefulSet, DaemonSet in namespace reconcile-test/,
    );
  });

  it("a cluster reload asked in template mode (podplug.io/reload) is answered Unsupported with one Warning per ask, and rolls nothing", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("reloadme", { selector: { matchLabels: { reloadme: "yes" } } }),
        hostDeployment("reload-host", { reloadme: "yes" }),
      ),
    );
    await waitTemplate(c, NS, "reload-host", "the reloadme sidecar", (t) => initNames(t).includes("podplug-reloadme"));
    const generation = async (): Promise<number> =>
      (await getJson<{ metadata: { generation: number } }>(c, ["-n", NS, "deployment", "reload-host"]))!.metadata
        .generation;
    const before = await generation();
    type Reload = { token: string; state: string; message: string };
    const reloadOf = async (): Promise<Reload | undefined> =>
      (await getJson<{ status?: { reload?: Reload } }>(c, ["-n", NS, "plugin", "reloadme"]))?.status?.reload;
    const warnings = async (): Promise<string[]> =>
      (await getJson<{ items: { type: string; message: string }[] }>(c, [
        "-n",
        NS,
        "events",
        "--field-selector",
        "involvedObject.name=reloadme,reason=ReloadUnsupported",
      ]))!.items.map((e) => `${e.type}: ${e.message}`);
    for (const [i, token] of ["first", "second"].entries()) {
      await c.kubectlOk(["annotate", "-n", NS, "plugin", "reloadme", "--overwrite", `podplug.io/reload=${token}`]);
      const r = await waitFor(`status.reload for ${token}`, async () => {
        const x = await reloadOf();
        return x?.token === token ? x : undefined;
      });
      assert.equal(r.state, "Unsupported");
      assert.match(
        r.message,
        new RegExp(`^reload "${token}" not done: .*template mode.*no Pod was touched.*webhook mode`),
      );
      const w = await waitFor(`${i + 1} ReloadUnsupported Event(s)`, async () => {
        const l = await warnings();
        return l.length === i + 1 ? l : undefined;
      });
      assert.ok(
        w.every((m) => m.startsWith("Warning: reload ")),
        w.join("\n"),
      );
    }
    // Another change of the Plugin reconciles it again: no second answer to the same ask; nothing rolled the workload.
    await c.kubectlOk(["annotate", "-n", NS, "plugin", "reloadme", "--overwrite", "podplug.io/touch=1"]);
    await waitQuiet(op, 1);
    assert.equal((await warnings()).length, 2, "one Warning per ask");
    assert.equal(await generation(), before, "the Deployment was not rolled");
  });

  it("reports an apply the apiserver refuses (422) once, as a terminal error, and recovers when the Plugin changes", async () => {
    const retries = (): Promise<number> => metric(op, 'workqueue_retries_total{name="workload"');
    const terminal = (): Promise<number> =>
      metric(op, 'controller_runtime_terminal_reconcile_errors_total{controller="workload"}');
    const [retriesBefore, terminalBefore] = [await retries(), await terminal()];
    // A volume with two sources passes the CRD (volume sources are not checked there) but not the Deployment's validation.
    const bad = pluginManifest("refused", {
      selector: { matchLabels: { refused: "yes" } },
      volumes: [{ name: "two", emptyDir: {}, hostPath: { path: "/x" } }],
    });
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(bad, hostDeployment("refused-host", { refused: "yes" })));
    const cond = await waitFor("InjectFailed", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "refused"]);
      const x = v?.status?.conditions?.find((k) => k.type === "Injected") as
        | { reason: string; message?: string }
        | undefined;
      return x?.reason === "InjectFailed" ? x : undefined;
    });
    assert.match(cond.message ?? "", /Deployment refused-host: .*HTTP 422 .*may not specify more than 1 volume type/);
    await waitQuiet(op, 0);
    assert.equal((await terminal()) - terminalBefore, 1, "a refused apply is reported once");
    assert.equal(await retries(), retriesBefore, "a refused apply was retried");
    // The Plugin changes: the workload is reconciled again and the sidecar joins.
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(pluginManifest("refused", { selector: { matchLabels: { refused: "yes" } } })),
    );
    await waitTemplate(c, NS, "refused-host", "refused injected", (t) => initNames(t).includes("podplug-refused"));
    await waitFor("Injected True", async () => {
      const v = await getJson<PluginView>(c, ["-n", NS, "plugin", "refused"]);
      return v?.status?.conditions?.find((k) => k.type === "Injected")?.status === "True";
    });
  });

  it("serves /readyz and controller-runtime metrics", async () => {
    assert.equal((await fetch(`${op.healthUrl}/readyz`)).status, 200);
    const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
    for (const name of [
      'controller_runtime_reconcile_total{controller="plugin",result="success"}',
      "controller_runtime_reconcile_time_seconds_bucket",
      "controller_runtime_reconcile_errors_total",
      'workqueue_depth{name="plugin"',
      "workqueue_adds_total",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_work_duration_seconds_bucket",
      "workqueue_retries_total",
      "controller_runtime_active_workers",
      "process_resident_memory_bytes",
    ]) {
      assert.ok(text.includes(name), `missing ${name}`);
    }
    assert.equal((await fetch(`${op.metricsUrl}/nope`)).status, 404);
  });

  it("logs JSON lines that carry the Plugin's name", () => {
    const lines = readFileSync(op.proc.logFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.plugin === "kv" && typeof l.msg === "string"));
  });
});

describe("operator with a bad flag", () => {
  it("exits 2 naming the flag and the fix, with a code", async () => {
    const { run } = await import("../cluster/kubectl.ts");
    const r = await run(process.execPath, [join(ROOT, "operator/main.ts"), "--log-level=loud"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--log-level=loud: use one of trace, debug, info, warn, error, fatal \[OPERATOR_BAD_FLAG\]/);
  });
  it("does the same as `podplug operator`", async () => {
    const { run } = await import("../cluster/kubectl.ts");
    const r = await run(process.execPath, [
      join(ROOT, "src/cli/main.ts"),
      "operator",
      "--watch-namespaces=Not_A_Namespace",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"Not_A_Namespace" is not a namespace name \[OPERATOR_BAD_FLAG\]/);
  });
});
