/** The one selection rule, pluginSelects(), and the local runtime reading its manifests through it. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isPodplugError } from "../../src/errors.ts";
import { pluginSelects } from "../../src/inject/selector.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { loadManifests } from "../../src/local/manifests.ts";
import { tempDir } from "../helpers.ts";

function plugin(spec: Partial<Plugin["spec"]> = {}, deleting = false): Plugin {
  return {
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name: "kv", ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
    spec: {
      image: "example/kv:1",
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1] },
      selector: { matchLabels: { app: "host" } },
      ...spec,
    },
  } as Plugin;
}

describe("pluginSelects", () => {
  it("takes a workload of a listed kind whose labels match, and no other", () => {
    assert.equal(pluginSelects(plugin(), "Deployment", { app: "host", x: "y" }), true);
    assert.equal(pluginSelects(plugin(), "DaemonSet", { app: "host" }), true);
    assert.equal(pluginSelects(plugin(), "Deployment", { app: "other" }), false);
    assert.equal(pluginSelects(plugin(), "Deployment", undefined), false);
    assert.equal(pluginSelects(plugin({ workloadKinds: ["StatefulSet"] }), "Deployment", { app: "host" }), false);
    assert.equal(pluginSelects(plugin({ workloadKinds: ["StatefulSet"] }), "StatefulSet", { app: "host" }), true);
  });

  it("never takes anything for a Plugin being deleted or with an empty selector", () => {
    assert.equal(pluginSelects(plugin({}, true), "Deployment", { app: "host" }), false);
    assert.equal(pluginSelects(plugin({ selector: {} }), "Deployment", { app: "host" }), false);
  });

  it("takes a bare Pod whatever workloadKinds says, if its labels match", () => {
    assert.equal(pluginSelects(plugin({ workloadKinds: ["StatefulSet"] }), "Pod", { app: "host" }), true);
    assert.equal(pluginSelects(plugin({ workloadKinds: ["StatefulSet"] }), "Pod", { app: "x" }), false);
  });
});

describe("podplug run selects through pluginSelects", () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  const pluginYaml = (extra: string): string => `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: kv}
spec:
  image: example/kv:1
  command: [node, plugin.ts]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [1]}
  selector: {matchLabels: {app: host}}
${extra}`;
  const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: host, labels: {app: host}}
spec:
  selector: {matchLabels: {app: host}}
  template:
    metadata: {labels: {app: host}}
    spec:
      containers: [{name: host, image: example/host:1, command: [node, host.ts]}]
`;
  const pod = `apiVersion: v1
kind: Pod
metadata: {name: host, labels: {app: host}}
spec:
  containers: [{name: host, image: example/host:1, command: [node, host.ts]}]
`;
  function load(...docs: string[]): ReturnType<typeof loadManifests> {
    const p = join(t.dir, "all.yaml");
    writeFileSync(p, docs.join("---\n"));
    return loadManifests([p]);
  }

  it("a Plugin whose workloadKinds leave out Deployment does not take one: MANIFEST_NO_MATCH", () => {
    assert.throws(
      () => load(pluginYaml("  workloadKinds: [StatefulSet]\n"), deployment),
      (e: unknown) => isPodplugError(e, "MANIFEST_NO_MATCH"),
    );
    const m = load(pluginYaml(""), deployment);
    assert.deepEqual(
      [...m.matches.values()].map((ps) => ps.map((p) => p.metadata.name)),
      [["kv"]],
    );
  });

  it("a bare Pod takes the Plugin whatever its workloadKinds", () => {
    const m = load(pluginYaml("  workloadKinds: [StatefulSet]\n"), pod);
    assert.deepEqual(
      [...m.matches.values()].map((ps) => ps.map((p) => p.metadata.name)),
      [["kv"]],
    );
  });
});
