/**
 * The workload's `podplug.io/plugin-versions` annotation (issue 13's semver
 * constraints, the operator's side): the injection refuses a Plugin outside
 * the range, or that declares no version, and refuses a malformed annotation,
 * each with a code and the annotation's path; inside the range it injects.
 */
import assert from "node:assert/strict";
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { PLUGIN_VERSIONS_ANNOTATION, parseVersionConstraints } from "../../src/inject/version-constraints.ts";
import { pluginManifest } from "../operator/helpers.ts";

const plugin = (name: string, version?: string): Plugin =>
  pluginManifest(name, {
    selector: { matchLabels: { app: "h" } },
    ...(version ? { version } : {}),
  }) as unknown as Plugin;
const template = (constraint?: string): V1PodTemplateSpec => ({
  metadata: constraint === undefined ? {} : { annotations: { [PLUGIN_VERSIONS_ANNOTATION]: constraint } },
  spec: { containers: [{ name: "host", image: "h" }] },
});
const refusal = (code: string, msg: RegExp) => (e: Error & { code?: string; path?: string }) =>
  e.code === code && e.path === `template.metadata.annotations[${PLUGIN_VERSIONS_ANNOTATION}]` && msg.test(e.message);

describe("injection: plugin version constraints (podplug.io/plugin-versions)", () => {
  it("injects Plugins inside their ranges, and ignores Plugins the annotation does not name", () => {
    const out = inject(template("kv=^1.2.0, counter=>=2.0.0 <3"), [
      plugin("kv", "1.9.0"),
      plugin("counter", "2.5.1"),
      plugin("other"),
    ]);
    const sidecars = (out.spec!.initContainers ?? []).map((c) => c.name);
    assert.ok(["podplug-kv", "podplug-counter", "podplug-other"].every((n) => sidecars.includes(n)));
    assert.equal(
      out.metadata?.annotations?.[PLUGIN_VERSIONS_ANNOTATION],
      "kv=^1.2.0, counter=>=2.0.0 <3",
      "the user's annotation is kept",
    );
  });

  it("refuses a Plugin outside its range, naming both", () => {
    assert.throws(
      () => inject(template("kv=^1.2.0"), [plugin("kv", "2.0.0")]),
      refusal("INJECT_VERSION_MISMATCH", /plugin kv is version 2\.0\.0, outside the range \^1\.2\.0/),
    );
    // A prerelease is outside a plain range, as semver has it.
    assert.throws(() => inject(template("kv=>=1.0.0"), [plugin("kv", "1.5.0-rc.1")]), {
      code: "INJECT_VERSION_MISMATCH",
    });
  });

  it("refuses a constrained Plugin that declares no version", () => {
    assert.throws(
      () => inject(template("kv=^1"), [plugin("kv")]),
      refusal("INJECT_VERSION_MISMATCH", /declares no spec\.version/),
    );
  });

  it("refuses a malformed annotation with INJECT_INVALID_TEMPLATE naming the bad part", () => {
    for (const [value, msg] of [
      ["kv", /"kv" is not <plugin>=<semver range>/],
      ["=^1", /"=\^1" is not/],
      ["kv=", /"kv=" is not/],
      ["kv=one", /"kv=one" is not/],
      ["kv=^1, kv=^2", /plugin kv is constrained twice/],
    ] as const)
      assert.throws(
        () => inject(template(value), [plugin("kv", "1.0.0")]),
        refusal("INJECT_INVALID_TEMPLATE", msg),
        value,
      );
  });

  it("parses ranges with spaces and operators, and skips empty parts", () => {
    assert.deepEqual(
      [...parseVersionConstraints(" kv = >=1.2.0 <2 ,, counter=1.x || 3.x ").entries()],
      [
        ["kv", ">=1.2.0 <2"],
        ["counter", "1.x || 3.x"],
      ],
    );
  });
});
