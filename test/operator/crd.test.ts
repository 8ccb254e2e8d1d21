import assert from "node:assert/strict";
import type { TestCluster } from "../cluster/cluster.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { pluginManifest, useNamespace, yaml } from "./helpers.ts";

const cluster = useSharedCluster();
const NS = "crd-test";

// Each spec is refused by the apiserver itself (OpenAPI or CEL), with this message.
const INVALID: [string, Record<string, unknown>, RegExp][] = [
  ["no image", { image: undefined }, /spec\.image: Required value/],
  [
    "an empty image",
    { image: "" },
    /spec\.image: Invalid value: "": spec\.image in body should be at least 1 chars long/,
  ],
  ["an image with a space", { image: "a b" }, /spec\.image must not contain spaces/],
  ["no handshake", { handshake: undefined }, /spec\.handshake: Required value/],
  [
    "a cookie key that is no env name",
    { handshake: { magicCookieKey: "1 BAD", magicCookieValue: "v", protocolVersions: [1] } },
    /spec\.handshake\.magicCookieKey: Invalid value: "1 BAD": spec\.handshake\.magicCookieKey in body should match/,
  ],
  [
    "a cookie key in the reserved PLUGIN_ space",
    { handshake: { magicCookieKey: "PLUGIN_X", magicCookieValue: "v", protocolVersions: [1] } },
    /magicCookieKey must not start with PLUGIN_ or PODPLUG_/,
  ],
  [
    "an empty cookie value",
    { handshake: { magicCookieKey: "K", magicCookieValue: "", protocolVersions: [1] } },
    /spec\.handshake\.magicCookieValue in body should be at least 1 chars long/,
  ],
  [
    "no protocol version",
    { handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [] } },
    /spec\.handshake\.protocolVersions: Invalid value: 0: spec\.handshake\.protocolVersions in body should have at least 1 items/,
  ],
  [
    "protocol version 0",
    { handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [0] } },
    /spec\.handshake\.protocolVersions\[0\]: Invalid value: 0: spec\.handshake\.protocolVersions\[0\] in body should be greater than or equal to 1/,
  ],
  [
    "a repeated protocol version",
    { handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [1, 1] } },
    /spec\.handshake\.protocolVersions\[1\]: Duplicate value: 1/,
  ],
  ["an empty selector", { selector: {} }, /spec\.selector must select something/],
  [
    "an unknown selector operator",
    { selector: { matchExpressions: [{ key: "a", operator: "Like", values: ["b"] }] } },
    /Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist"/,
  ],
  [
    "In without values",
    { selector: { matchExpressions: [{ key: "a", operator: "In" }] } },
    /operators In and NotIn need values/,
  ],
  [
    "a reserved env name",
    { env: [{ name: "PODPLUG_PLUGINS", value: "x" }] },
    /env names starting with PLUGIN_ or PODPLUG_ are reserved/,
  ],
  [
    "env with value and valueFrom",
    { env: [{ name: "A", value: "x", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }] },
    /sets value or valueFrom, not both/,
  ],
  [
    "a workload kind that is not a host",
    { workloadKinds: ["Job"] },
    /Unsupported value: "Job": supported values: "Deployment", "StatefulSet", "DaemonSet"/,
  ],
  ["an unknown pull policy", { imagePullPolicy: "Sometimes" }, /Unsupported value: "Sometimes"/],
  [
    "a default call deadline of 0 ms",
    { calls: { deadlineMilliseconds: 0 } },
    /spec\.calls\.deadlineMilliseconds in body should be greater than or equal to 1/,
  ],
  [
    "an unknown whenUnavailable",
    { calls: { whenUnavailable: "Retry" } },
    /Unsupported value: "Retry": supported values: "FailFast", "Wait"/,
  ],
  ["an unknown field of calls", { calls: { retries: 3 } }, /unknown field "spec\.calls\.retries"/],
  ["a version that is not semver", { version: "v1.2" }, /spec\.version in body should match/],
  [
    "a standby that is no boolean",
    { standby: "yes" },
    /spec\.standby: Invalid value: "string": spec\.standby in body must be of type boolean/,
  ],
  [
    "a probe timeout longer than its period",
    { probes: { liveness: { periodSeconds: 5, timeoutSeconds: 6 } } },
    /probe timeoutSeconds must not exceed periodSeconds/,
  ],
  [
    "a liveness timeout longer than its default period (1 s)",
    { probes: { liveness: { timeoutSeconds: 2 } } },
    /spec\.probes\.liveness\.timeoutSeconds: Invalid value: "object": probe timeoutSeconds must not exceed periodSeconds \(liveness default 1\)/,
  ],
  [
    "a readiness timeout longer than its default period (5 s)",
    { probes: { readiness: { timeoutSeconds: 6 } } },
    /spec\.probes\.readiness\.timeoutSeconds: .*readiness default 5/,
  ],
  [
    "a zero probe-level grace",
    { probes: { liveness: { terminationGracePeriodSeconds: 0 } } },
    /spec\.probes\.liveness\.terminationGracePeriodSeconds in body should be greater than or equal to 1/,
  ],
  [
    "a probe-level grace on readiness (Kubernetes has none)",
    { probes: { readiness: { terminationGracePeriodSeconds: 1 } } },
    /unknown field "spec\.probes\.readiness\.terminationGracePeriodSeconds"/,
  ],
  [
    "a negative probe period",
    { probes: { readiness: { periodSeconds: -1 } } },
    /spec\.probes\.readiness\.periodSeconds in body should be greater than or equal to 1/,
  ],
  [
    "a resource quantity that is not one",
    { resources: { limits: { memory: "lots" } } },
    /spec\.resources\.limits\.memory in body should match/,
  ],
  [
    "autoMTLS that is not a boolean",
    { autoMTLS: "always" },
    /spec\.autoMTLS: Invalid value: "string": spec\.autoMTLS in body must be of type boolean/,
  ],
  ["an unknown field", { imageName: "x" }, /unknown field "spec\.imageName"/],
  // CEL rules name the field they are about (fieldPath), not the object that holds them.
  [
    "a reserved env name, at its path",
    { env: [{ name: "PLUGIN_X", value: "x" }] },
    /spec\.env\[0\]\.name: Forbidden: env names starting with PLUGIN_/,
  ],
  [
    "a probe timeout, at its path",
    { probes: { liveness: { periodSeconds: 5, timeoutSeconds: 6 } } },
    /spec\.probes\.liveness\.timeoutSeconds: Invalid value: "object": probe timeoutSeconds/,
  ],
  [
    "a relative workingDir",
    { workingDir: "work" },
    /spec\.workingDir: Invalid value: "string": spec\.workingDir must be an absolute path/,
  ],
  [
    "a mount of a volume it does not declare",
    { volumeMounts: [{ name: "data", mountPath: "/data" }] },
    /spec\.volumeMounts: Invalid value: "object": spec\.volumeMounts: every mount names one of spec\.volumes/,
  ],
  [
    "a relative mountPath",
    { volumes: [{ name: "data", emptyDir: {} }], volumeMounts: [{ name: "data", mountPath: "data" }] },
    /spec\.volumeMounts\[0\]\.mountPath: Invalid value: "string": mountPath must be an absolute path/,
  ],
  [
    "a volume name that is no DNS label",
    { volumes: [{ name: "Data", emptyDir: {} }] },
    /spec\.volumes\[0\]\.name in body should match/,
  ],
  [
    "a scratch size that is no quantity",
    { scratch: { sizeLimit: "big" } },
    /spec\.scratch\.sizeLimit in body should match/,
  ],
];

describe("Plugin CRD on the real apiserver", function () {
  this.timeout(120_000);
  const fx = useNamespace(cluster, NS);
  let c: TestCluster;
  before(() => {
    c = fx.cluster();
  });

  it("accepts the example Plugin and shows the printer columns and the short name", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("columns", {
          handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1, 2] },
        }),
      ),
    );
    const out = await c.kubectlOk(["get", "plugins", "-n", NS]);
    const [header, row] = out.trim().split("\n");
    assert.deepEqual(header!.split(/\s{2,}/), ["NAME", "IMAGE", "PROTOCOL", "WORKLOADS", "READY", "STATUS", "AGE"]);
    assert.match(row!, /^columns\s+example\/columns:1\s+\[1,2\]/);
    const short = await c.kubectlOk(["get", "plg", "-n", NS, "-o", "name"]);
    assert.match(short, /plugin\.podplug\.io\/columns/);
  });

  it("defaults autoMTLS to false", async () => {
    const out = await c.kubectlOk(["get", "plugin", "columns", "-n", NS, "-o", "jsonpath={.spec.autoMTLS}"]);
    assert.equal(out, "false");
  });

  describe(`refuses ${INVALID.length} invalid specs with a precise message`, () => {
    for (const [what, override, message] of INVALID) {
      it(`refuses ${what}`, async () => {
        await c.kubectlOk(["delete", "plugin", "bad", "-n", NS, "--ignore-not-found"]);
        const m = pluginManifest("bad") as { spec: Record<string, unknown> };
        for (const [k, v] of Object.entries(override)) {
          if (v === undefined) delete m.spec[k];
          else m.spec[k] = v;
        }
        const r = await c.kubectl(["apply", "-n", NS, "-f", "-"], yaml(m));
        assert.notEqual(r.code, 0, `accepted: ${r.stdout}`);
        assert.match(r.stderr, message);
        const gone = await c.kubectl(["get", "plugin", "bad", "-n", NS]);
        assert.notEqual(gone.code, 0, "an invalid Plugin was stored");
      });
    }
  });

  // Rules at the root name metadata.name, so kubectl prints `metadata.name: ...`, not `<nil>: Invalid value: "object"`.
  const BAD_NAMES: [string, RegExp][] = [
    ["agent", /metadata\.name: Forbidden: metadata\.name 'launcher', 'bin' and 'agent' are reserved/],
    ["launcher", /metadata\.name: Forbidden: metadata\.name 'launcher', 'bin' and 'agent' are reserved/],
    [
      "a".repeat(51),
      /metadata\.name: Invalid value: "object": metadata\.name must be a DNS-1123 label of at most 50 characters/,
    ],
    ["with.dots", /must be a DNS-1123 label of at most 50 characters \(no dots\)/],
  ];
  it("accepts a call policy and a semantic version and keeps them as given", async () => {
    await c.kubectlOk(
      ["apply", "-n", NS, "-f", "-"],
      yaml(
        pluginManifest("calls", {
          calls: { deadlineMilliseconds: 2500, whenUnavailable: "Wait" },
          version: "1.4.2-rc.1+b7",
        }),
      ),
    );
    const got = JSON.parse(await c.kubectlOk(["get", "plugin", "calls", "-n", NS, "-o", "json"])) as {
      spec: { calls: unknown; version: string };
    };
    assert.deepEqual(got.spec.calls, { deadlineMilliseconds: 2500, whenUnavailable: "Wait" });
    assert.equal(got.spec.version, "1.4.2-rc.1+b7");
  });

  it("accepts workingDir, volumes, volumeMounts and a scratch size, and refuses a volume name too long for the pod", async () => {
    const ok = pluginManifest("vols", {
      workingDir: "/data",
      scratch: { sizeLimit: "128Mi" },
      volumes: [{ name: "data", emptyDir: { sizeLimit: "1Gi" } }],
      volumeMounts: [{ name: "data", mountPath: "/data" }],
    });
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(ok));
    const long = pluginManifest("p".repeat(50), { volumes: [{ name: "data5", emptyDir: {} }] });
    const r = await c.kubectl(["apply", "-n", NS, "-f", "-"], yaml(long));
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /spec\.volumes: Invalid value: "object": spec\.volumes: the plugin's name and a volume's name together/,
    );
  });

  it("standby: defaults to false, takes a 47-character name, refuses a 48-character one (podplug-<name>-standby must fit in 63)", async () => {
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("s".repeat(48))));
    const off = await c.kubectlOk(["get", "plugin", "s".repeat(48), "-n", NS, "-o", "jsonpath={.spec.standby}"]);
    assert.equal(off, "false");
    await c.kubectlOk(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("s".repeat(47), { standby: true })));
    const r = await c.kubectl(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest("t".repeat(48), { standby: true })));
    assert.notEqual(r.code, 0, `accepted: ${r.stdout}`);
    assert.match(
      r.stderr,
      /metadata\.name: Invalid value: "object": metadata\.name may have at most 47 characters with spec\.standby/,
    );
    const gone = await c.kubectl(["get", "plugin", "t".repeat(48), "-n", NS]);
    assert.notEqual(gone.code, 0, "the refused Plugin was stored");
  });

  for (const [name, message] of BAD_NAMES) {
    it(`refuses the name ${name.length > 20 ? `of ${name.length} characters` : name}`, async () => {
      const r = await c.kubectl(["apply", "-n", NS, "-f", "-"], yaml(pluginManifest(name)));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
    });
  }
});
