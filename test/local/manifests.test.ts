/** `podplug run`'s manifest reading: what each kind of bad input does. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isPodplugError } from "../../src/errors.ts";
import { loadManifests } from "../../src/local/manifests.ts";
import { tempDir } from "../helpers.ts";

const plugin = (name: string, spec: string = ""): string => `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: ${name}}
spec:
  image: example/${name}:1
  command: [node, plugin.ts]
  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [1]}
  selector: {matchLabels: {app: host}}
${spec}`;

const host = `apiVersion: apps/v1
kind: Deployment
metadata: {name: host, labels: {app: host}}
spec:
  selector: {matchLabels: {app: host}}
  template:
    metadata: {labels: {app: host}}
    spec:
      containers: [{name: host, image: example/host:1, command: [node, host.ts]}]
`;

describe("podplug run manifests", () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.remove());

  function write(name: string, text: string): string {
    const p = join(t.dir, name);
    writeFileSync(p, text);
    return p;
  }

  function refused(code: string, file: RegExp | string, field: RegExp): void {
    assert.throws(
      () => loadManifests([t.dir]),
      (err: Error) =>
        isPodplugError(err) &&
        err.code === code &&
        err.message.includes(typeof file === "string" ? file : "") &&
        (typeof file === "string" || file.test(err.message)) &&
        field.test(err.message),
    );
  }

  it("reads Plugins and a host from a folder and matches them by selector", () => {
    write("a-plugins.yaml", `${plugin("kv")}---\n${plugin("counter")}`);
    write("b-host.yaml", `${host}---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n`);
    const m = loadManifests([t.dir]);
    assert.deepEqual(
      m.plugins.map((p) => p.plugin.metadata.name),
      ["kv", "counter"],
    );
    assert.equal(m.hosts.length, 1);
    assert.deepEqual(
      m.matches.get(m.hosts[0]!)!.map((p) => p.metadata.name),
      ["kv", "counter"],
    );
    assert.equal(m.skipped.length, 1, "the Service is skipped with a warning, not an error");
  });

  const cases: [string, string, string, RegExp][] = [
    [
      "an unknown field",
      plugin("kv", "  imagee: typo\n"),
      "MANIFEST_INVALID",
      /Plugin kv: spec\.imagee: unknown field/,
    ],
    [
      "a wrong type",
      plugin("kv").replace("protocolVersions: [1]", 'protocolVersions: ["one"]'),
      "MANIFEST_INVALID",
      /spec\.handshake\.protocolVersions\[0\]: must be an integer/,
    ],
    [
      "a value out of range",
      plugin("kv", "  probes: {liveness: {periodSeconds: 0}}\n"),
      "MANIFEST_INVALID",
      /spec\.probes\.liveness\.periodSeconds: must be ≥ 1/,
    ],
    [
      "a missing required field",
      plugin("kv").replace("  image: example/kv:1\n", ""),
      "MANIFEST_INVALID",
      /spec\.image: is required/,
    ],
    [
      "a typo in a required field: the typo is the cause, reported first",
      plugin("kv").replace("  image: example/kv:1\n", "  imagee: example/kv:1\n"),
      "MANIFEST_INVALID",
      /plugins\.yaml: Plugin kv: spec\.imagee: unknown field \(did you mean image\?\) \(known: .*\) \(and 1 more\)$/,
    ],
    [
      "a key that is a JavaScript prototype name",
      plugin("kv", "  constructor: 1\n  __proto__: {x: 1}\n"),
      "MANIFEST_INVALID",
      /Plugin kv: spec\.constructor: unknown field/,
    ],
    [
      "a plugin name the injection refuses (not a DNS-1123 label)",
      plugin("Bad_Name").replace("example/Bad_Name:1", "example/bad:1"),
      "MANIFEST_INVALID",
      /plugins\.yaml: Plugin "Bad_Name": metadata\.name: "Bad_Name" is not a usable plugin name/,
    ],
    [
      "the reserved plugin name launcher",
      plugin("launcher"),
      "MANIFEST_INVALID",
      /Plugin "launcher": metadata\.name: "launcher" is not a usable plugin name/,
    ],
    [
      "a plugin name over 50 characters",
      plugin("a".repeat(51)),
      "MANIFEST_INVALID",
      /metadata\.name: "a{51}" is not a usable plugin name/,
    ],
    [
      "a reserved environment variable",
      plugin("kv", "  env: [{name: PLUGIN_PROTOCOL_VERSIONS, value: '9'}]\n"),
      "MANIFEST_INVALID",
      /Plugin "kv": spec\.env: plugin kv sets PLUGIN_PROTOCOL_VERSIONS: PLUGIN_ and PODPLUG_ names are reserved/,
    ],
    [
      "a missing command",
      plugin("kv").replace("  command: [node, plugin.ts]\n", ""),
      "MANIFEST_INVALID",
      /Plugin kv: spec\.command: is required by podplug run/,
    ],
    [
      "a bad enum",
      plugin("kv", "  imagePullPolicy: Sometimes\n"),
      "MANIFEST_INVALID",
      /spec\.imagePullPolicy: must be one of/,
    ],
    [
      "a selector that matches nothing",
      plugin("kv").replace("app: host}", "app: other}"),
      "MANIFEST_NO_MATCH",
      /Plugin kv: spec\.selector: matches no host workload/,
    ],
    ["broken YAML", "apiVersion: v1\nkind: [unclosed\n", "MANIFEST_INVALID", /document 1: not valid YAML/],
    [
      "a kind that cannot run locally",
      "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n",
      "MANIFEST_UNSUPPORTED",
      /Job j: podplug run understands/,
    ],
    [
      "an object without a name",
      "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: []}\n",
      "MANIFEST_INVALID",
      /metadata\.name: is required/,
    ],
  ];
  for (const [what, text, code, field] of cases) {
    it(`refuses ${what}, naming the file and the field`, () => {
      const f = write("plugins.yaml", text);
      write("host.yaml", host);
      refused(code, f, field);
    });
  }

  it("refuses two Plugins with one name, naming both files", () => {
    write("a.yaml", plugin("kv"));
    const second = write("b.yaml", plugin("kv"));
    write("host.yaml", host);
    refused("MANIFEST_DUPLICATE", second, /already defined in .*a\.yaml/);
  });

  it("refuses a host container without a command", () => {
    write("plugins.yaml", plugin("kv"));
    const f = write("host.yaml", host.replace(", command: [node, host.ts]", ""));
    refused("MANIFEST_INVALID", f, /spec\.template\.spec\.containers\[0\]\.command/);
  });

  it("refuses manifests without a host workload", () => {
    write("plugins.yaml", plugin("kv"));
    refused("MANIFEST_NO_HOST", t.dir, /no host workload/);
  });

  it("refuses a path that does not exist", () => {
    assert.throws(() => loadManifests([join(t.dir, "nope")]), { code: "MANIFEST_INVALID" });
  });
});
