import assert from "node:assert/strict";
import type { V1Container, V1PodTemplateSpec } from "@kubernetes/client-node";
import { HOST_ENV, PLUGIN_ENV, SIDECAR_ENV } from "../../src/constants.ts";
import { SOCKET_VOLUME } from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";

function plugin(name: string, over: Partial<Plugin["spec"]> = {}): Plugin {
  return {
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name, namespace: "default" },
    spec: {
      image: `example/${name}:1`,
      command: ["/kv"],
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1] },
      selector: { matchLabels: { app: "host" } },
      ...over,
    },
  };
}

function template(): V1PodTemplateSpec {
  return { metadata: { labels: { app: "host" } }, spec: { containers: [{ name: "host", image: "h:1" }] } };
}

const envOf = (c: V1Container, name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;
const byName = (t: V1PodTemplateSpec, name: string): V1Container => {
  const c = t.spec!.initContainers!.find((x) => x.name === name);
  assert.ok(c, `no container ${name} in ${t.spec!.initContainers!.map((x) => x.name).join(", ")}`);
  return c;
};

describe("inject: spec.standby", () => {
  it("adds podplug-<name>-standby right after the plugin's sidecar: the same image, command and probes, its own socket folder and handshake file", () => {
    const out = inject(template(), [plugin("kv", { standby: true }), plugin("counter")], { launcherImage: "p:1" });
    assert.deepEqual(
      out.spec!.initContainers!.map((c) => c.name),
      ["podplug-launcher", "podplug-counter", "podplug-kv", "podplug-kv-standby"],
    );
    const primary = byName(out, "podplug-kv");
    const spare = byName(out, "podplug-kv-standby");
    assert.equal(spare.image, primary.image);
    assert.deepEqual(spare.command, primary.command);
    assert.equal(spare.restartPolicy, "Always");
    assert.deepEqual(spare.livenessProbe, primary.livenessProbe);
    assert.deepEqual(spare.readinessProbe, primary.readinessProbe);
    assert.equal(envOf(spare, PLUGIN_ENV.unixSocketDir), "/var/run/podplug/kv-standby");
    assert.equal(envOf(spare, SIDECAR_ENV.handshakeFile), "/var/run/podplug/kv-standby/handshake");
    // Its name stays the plugin's: logs, certificates, the local runtime's user.
    assert.equal(envOf(spare, SIDECAR_ENV.pluginName), "kv");
    assert.deepEqual(
      spare.volumeMounts!.filter((m) => m.name === SOCKET_VOLUME),
      [{ name: SOCKET_VOLUME, mountPath: "/var/run/podplug/kv-standby", subPath: "kv-standby" }],
    );
    // The primary is untouched by its copy.
    assert.equal(envOf(primary, PLUGIN_ENV.unixSocketDir), "/var/run/podplug/kv");
    const host = out.spec!.containers[0]!;
    assert.equal(envOf(host, HOST_ENV.standby), "kv");
    assert.equal(envOf(host, HOST_ENV.plugins), "counter,kv");
    // Host readiness is about the plugin, not each instance: one name per plugin.
    assert.deepEqual(host.readinessProbe?.exec?.command?.slice(1), ["ready", "counter", "kv"]);
  });

  it("an env value naming the plugin's own folder (examples/demo's KV_DIR) names the standby's own folder in the standby", () => {
    const env = [
      { name: "KV_DIR", value: "/var/run/podplug/kv" },
      { name: "KV_FILE", value: "/var/run/podplug/kv/data/store" },
      { name: "SIBLING", value: "/var/run/podplug/kv2" },
      { name: "OTHER", value: "/var/run/podplug/counter" },
    ];
    const out = inject(template(), [plugin("kv", { standby: true, env })], { launcherImage: "p:1" });
    const spare = byName(out, "podplug-kv-standby");
    assert.equal(envOf(spare, "KV_DIR"), "/var/run/podplug/kv-standby");
    assert.equal(envOf(spare, "KV_FILE"), "/var/run/podplug/kv-standby/data/store");
    assert.equal(envOf(spare, "SIBLING"), "/var/run/podplug/kv2", "only the folder itself and what is inside it");
    assert.equal(envOf(spare, "OTHER"), "/var/run/podplug/counter");
    assert.equal(envOf(byName(out, "podplug-kv"), "KV_DIR"), "/var/run/podplug/kv", "the primary keeps its own");
  });

  it("is idempotent, and turning standby off removes the second sidecar and PODPLUG_STANDBY", () => {
    const once = inject(template(), [plugin("kv", { standby: true })]);
    assert.deepEqual(inject(once, [plugin("kv", { standby: true })]), once);
    const off = inject(once, [plugin("kv", { standby: false })]);
    assert.deepEqual(off, inject(template(), [plugin("kv")]));
    assert.equal(envOf(off.spec!.containers[0]!, HOST_ENV.standby), undefined);
    assert.ok(!off.spec!.initContainers!.some((c) => c.name === "podplug-kv-standby"));
  });

  it("gives the standby its own scratch volume: the instances share no /tmp", () => {
    const out = inject(template(), [plugin("kv", { standby: true, scratch: { sizeLimit: "8Mi" } })], { scratch: true });
    const tmp = (c: V1Container): string | undefined => c.volumeMounts!.find((m) => m.mountPath === "/tmp")?.name;
    assert.equal(tmp(byName(out, "podplug-kv")), "podplug-tmp-kv");
    assert.equal(tmp(byName(out, "podplug-kv-standby")), "podplug-tmp-kv-standby");
    assert.deepEqual(
      out.spec!.volumes!.find((v) => v.name === "podplug-tmp-kv-standby"),
      { name: "podplug-tmp-kv-standby", emptyDir: { sizeLimit: "8Mi" } },
    );
  });

  describe("bad input", () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        "a standby that is no boolean",
        () => inject(template(), [plugin("kv", { standby: "yes" as unknown as boolean })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.standby must be true or false, not "yes"/,
      ],
      [
        "a name too long for the standby container",
        () => inject(template(), [plugin("k".repeat(48), { standby: true })]),
        "INJECT_INVALID_PLUGIN",
        /at most 47 characters/,
      ],
      [
        "a plugin named like another's standby",
        () => inject(template(), [plugin("kv", { standby: true }), plugin("kv-standby")]),
        "INJECT_NAME_CONFLICT",
        /plugin kv has spec\.standby.*like plugin kv-standby/,
      ],
      [
        "a host container named like the standby sidecar",
        () =>
          inject({ spec: { containers: [{ name: "podplug-kv-standby", image: "h:1" }] } }, [
            plugin("kv", { standby: true }),
          ]),
        "INJECT_NAME_CONFLICT",
        /podplug-kv-standby has the name of a sidecar/,
      ],
    ];
    for (const [what, run, code, message] of cases)
      it(`refuses ${what} with ${code}`, () => assert.throws(run, { code, message }));

    it("keeps a 47-character name with standby, and a 50-character one without", () => {
      assert.ok(inject(template(), [plugin("k".repeat(47), { standby: true })]));
      assert.ok(inject(template(), [plugin("k".repeat(50), { standby: false })]));
    });
  });
});
