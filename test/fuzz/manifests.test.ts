/**
 * Fuzzing the manifest loader of `podplug run -f` (src/local/manifests.ts)
 * with fast-check, as test/transport/fuzz.test.ts does for HTTP/2. Inputs are
 * the committed corpus (corpus/manifests/: seeds, and every input that once
 * broke the property, minimized) mutated by YAML-aware edits, objects of any
 * shape written as YAML, and alias "bombs". PODPLUG_FUZZ_RUNS inputs in all
 * for the target (40 % mutations, 30 % shapes, 20 % hosts, 10 % bombs): `make test` 300
 * and the corpus replayed, `make fuzz-properties` 1,000,000. Property: loadManifests
 * returns, or throws its own coded error (MANIFEST_*), never another exception.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { isPodplugError } from "../../src/errors.ts";
import { loadManifests } from "../../src/local/manifests.ts";
import { tempDir } from "../helpers.ts";
import { check, RUNS } from "./runs.ts";

const CORPUS = join(import.meta.dirname, "corpus", "manifests");
const corpus = readdirSync(CORPUS)
  .filter((n) => n.endsWith(".yaml"))
  .sort()
  .map((n) => ({ name: n, text: readFileSync(join(CORPUS, n), "utf8") }));

/** Fragments a YAML or Kubernetes parser treats specially, spliced in by the mutator. */
const TOKENS = [
  "&a ",
  "*a",
  "<<: *a\n",
  "!!binary ",
  "!!str ",
  "!!map ",
  "!custom ",
  "- ",
  ": ",
  "{",
  "}",
  "[",
  "]",
  ",",
  "null",
  "~",
  "\n---\n",
  "\n...\n",
  "\t",
  "'",
  '"',
  "|\n",
  ">-\n",
  "%YAML 1.2\n---\n",
  "? ",
  "#",
  "0x1F",
  "1e400",
  "-.inf",
  ".nan",
  "true",
  "[null]",
  "{}",
  "[]",
  "\n  ",
  "kind: Pod\n",
  "kind: Plugin\n",
  "kind: Deployment\n",
  "apiVersion: podplug.io/v1alpha1\n",
  "containers: [null]\n",
  "containers: [7]\n",
  "command: 5\n",
  "labels: x\n",
  "labels: {a: [1]}\n",
  "metadata: [1]\n",
  "metadata: {name: 1}\n",
  "spec: null\n",
  "template: 3\n",
  "namespace: [x]\n",
  "\u0000",
  "\ufeff",
  "😀",
];

type Edit = { at: number; op: "delete" | "insert" | "replace" | "dupline"; len: number; token: string };
const editArb: fc.Arbitrary<Edit> = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  op: fc.constantFrom("delete" as const, "insert" as const, "replace" as const, "dupline" as const),
  len: fc.integer({ min: 1, max: 12 }),
  token: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TOKENS) }, fc.string({ maxLength: 6 })),
});

function mutate(text: string, edits: readonly Edit[]): string {
  let t = text;
  for (const e of edits) {
    const i = Math.floor(e.at * t.length);
    if (e.op === "delete") t = t.slice(0, i) + t.slice(i + e.len);
    else if (e.op === "insert") t = t.slice(0, i) + e.token + t.slice(i);
    else if (e.op === "replace") t = t.slice(0, i) + e.token + t.slice(i + e.token.length);
    else {
      const start = t.lastIndexOf("\n", i - 1) + 1;
      const end = t.indexOf("\n", i);
      const line = t.slice(start, end < 0 ? t.length : end + 1);
      t = t.slice(0, start) + line + line + t.slice(start);
    }
  }
  return t;
}

/** A YAML value of any shape, with the names the loader looks for more often than chance. */
const { value: valueArb } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(
      null,
      true,
      0,
      -1,
      "",
      "x",
      "Pod",
      "Plugin",
      "Deployment",
      "podplug.io/v1alpha1",
      "apps/v1",
      "v1",
      "In",
      "NotIn",
    ),
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          "apiVersion",
          "kind",
          "metadata",
          "name",
          "namespace",
          "labels",
          "spec",
          "template",
          "containers",
          "command",
          "image",
          "selector",
          "matchLabels",
          "matchExpressions",
          "handshake",
          "env",
        ),
        fc.string({ maxLength: 5 }),
      ),
      tie("value"),
      { maxKeys: 5 },
    ),
  ),
}));

/** A document that is nearly a workload or a Plugin: kind and apiVersion right, the rest any shape. */
const objectArb = fc
  .tuple(
    fc.constantFrom(
      ["podplug.io/v1alpha1", "Plugin"],
      ["apps/v1", "Deployment"],
      ["apps/v1", "StatefulSet"],
      ["apps/v1", "DaemonSet"],
      ["v1", "Pod"],
      ["v1", "Service"],
      ["x/v1", "Thing"],
    ),
    fc.record(
      { name: fc.oneof(fc.constant("n"), valueArb), labels: valueArb, namespace: valueArb },
      { requiredKeys: [] },
    ),
    valueArb,
  )
  .map(([[apiVersion, kind], metadata, spec]) => stringify({ apiVersion, kind, metadata, spec }));

/** A host workload of the right outline whose containers, command and labels are any shape. */
const hostArb = fc
  .record({
    kind: fc.constantFrom("Pod", "Deployment", "StatefulSet", "DaemonSet"),
    labels: fc.oneof(fc.constant({ app: "host" }), valueArb),
    containers: fc.array(
      fc.oneof(
        fc.record({ name: fc.constant("h"), command: fc.oneof(fc.constant(["node", "h.ts"]), valueArb) }),
        valueArb,
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ kind, labels, containers }) => {
    const spec = { containers };
    const metadata = { name: "host", labels };
    return stringify(
      kind === "Pod"
        ? { apiVersion: "v1", kind, metadata, spec }
        : { apiVersion: "apps/v1", kind, metadata, spec: { template: { metadata: { labels }, spec } } },
    );
  });

/** Aliases nested `depth` deep, each repeating the last `width` times: width^depth nodes from a few lines. */
const bombArb = fc
  .record({ width: fc.integer({ min: 2, max: 12 }), depth: fc.integer({ min: 1, max: 9 }), where: fc.nat(3) })
  .map(({ width, depth, where }) => {
    const lines = ["a0: &a0 [x]"];
    for (let d = 1; d <= depth; d++)
      lines.push(
        `a${d}: &a${d} [${Array(width)
          .fill(`*a${d - 1}`)
          .join(", ")}]`,
      );
    const top = `*a${depth}`;
    const field = ["metadata: {name: n, labels: ", "spec: {template: ", "spec: {command: ", "x: ("][where]!;
    return `apiVersion: v1\nkind: Pod\n${lines.join("\n")}\n${field}${top}}\n`;
  });

describe("fuzzing the manifest loader (podplug run -f)", function () {
  this.timeout(0);
  let t: ReturnType<typeof tempDir>;
  let file: string;
  before(() => {
    t = tempDir("pfz-");
    file = join(t.dir, "m.yaml");
  });
  after(() => t.remove());

  /** The property: the loader's result, or its own coded error. */
  function holds(text: string): void {
    writeFileSync(file, text);
    try {
      const m = loadManifests([file]);
      assert.ok(m.hosts.length > 0);
      for (const h of m.hosts) assert.ok(Array.isArray(h.template.spec?.containers));
    } catch (err) {
      assert.ok(isPodplugError(err), `not a coded error: ${err instanceof Error ? err.stack : String(err)}`);
      assert.match(err.code, /^MANIFEST_/);
    }
  }

  it("the committed corpus: every seed and every input that once broke the loader", () => {
    assert.ok(corpus.length >= 3, `corpus/manifests has ${corpus.length} entries`);
    for (const c of corpus) {
      try {
        holds(c.text);
      } catch (err) {
        throw new Error(`${c.name}: ${(err as Error).message}`);
      }
    }
    // The seeds are valid (the mutations start from manifests the loader accepts); what once broke it is refused.
    for (const c of corpus) {
      writeFileSync(file, c.text);
      if (c.name.startsWith("seed-")) loadManifests([file]);
      else assert.throws(() => loadManifests([file]), { code: "MANIFEST_INVALID" }, c.name);
    }
  });

  it("corpus entries mutated by YAML-aware edits", async () => {
    await check(
      fc.property(fc.constantFrom(...corpus), fc.array(editArb, { minLength: 1, maxLength: 6 }), (c, edits) =>
        holds(mutate(c.text, edits)),
      ),
      Math.ceil(RUNS * 0.4),
    );
  });

  it("documents of any shape, written as YAML, beside a valid seed", async () => {
    await check(
      fc.property(fc.array(objectArb, { minLength: 1, maxLength: 3 }), fc.constantFrom(...corpus), (docs, c) =>
        holds([c.text, ...docs].join("\n---\n")),
      ),
      Math.ceil(RUNS * 0.3),
    );
  });

  it("host workloads whose containers, commands and labels are any shape, beside a valid Plugin", async () => {
    await check(
      fc.property(hostArb, (h) => holds([corpus.find((c) => c.name.startsWith("seed-"))!.text, h].join("\n---\n"))),
      Math.ceil(RUNS * 0.2),
    );
  });

  it("alias bombs anywhere in a document", async () => {
    await check(
      fc.property(bombArb, (b) => holds(b)),
      Math.ceil(RUNS * 0.1),
    );
  });
});
