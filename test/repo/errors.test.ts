/**
 * The one error model: every area's error is a PodplugError, and the code
 * catalogue (docs/errors.md) lists exactly the codes the source can throw.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KubeApiError, OperatorError, TerminalError } from "../../operator/errors.ts";
import { isPodplugError, PodplugError } from "../../src/errors.ts";
import { InjectError } from "../../src/inject/errors.ts";
import { LocalError } from "../../src/local/errors.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { HpackError } from "../../src/transport/h2/hpack.ts";
import { HarnessError } from "../cluster/errors.ts";
import { ROOT } from "../helpers.ts";

/** The files that declare an error-code union, the union's name, and the folder whose code throws them. */
const UNIONS: [string, string, string][] = [
  ["src/errors.ts", "ErrorCode", "src"],
  ["src/transport/errors.ts", "TransportErrorCode", "src"],
  ["src/transport/h2/hpack.ts", "HpackErrorCode", "src"],
  ["src/inject/errors.ts", "InjectErrorCode", "src"],
  ["src/local/errors.ts", "LocalErrorCode", "src"],
  ["operator/errors.ts", "OperatorErrorCode", "operator"],
  ["test/cluster/errors.ts", "HarnessErrorCode", "test/cluster"],
];

function codesOf(file: string, union: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const m = new RegExp(`export type ${union} =([^;]+);`).exec(text);
  assert.ok(m, `${file} declares ${union}`);
  return [...m[1]!.matchAll(/"([A-Z0-9_]+)"/g)].map((x) => x[1]!);
}

/** The Go launcher's codes: `fail("CODE", …)` prints `[LAUNCHER_CODE]` (sdk/launcher), and its probe's one. */
function launcherCodes(): string[] {
  const out = new Set<string>();
  for (const e of readdirSync(join(ROOT, "sdk", "launcher"), { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith(".go")) continue;
    const text = readFileSync(join(e.parentPath, e.name), "utf8");
    for (const m of text.matchAll(/\bfail\("([A-Z0-9_]+)"/g)) out.add(`LAUNCHER_${m[1]}`);
    for (const m of text.matchAll(/\[(LAUNCHER_[A-Z0-9_]+)\]/g)) out.add(m[1]!);
  }
  return [...out];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !p.includes(`${join("src", "gen")}`));
}

describe("the error model", () => {
  it("every area's error is a PodplugError with a code, recognised by isPodplugError", () => {
    const errors = [
      new TransportError("TRANSPORT_BIND_FAILED", "m"),
      new HpackError("HPACK_TRUNCATED", "m"),
      new InjectError("INJECT_INVALID_PLUGIN", "m", { path: "plugins[0].spec.image" }),
      new LocalError("LOCAL_METRICS_PORT_IN_USE", "m"),
      new PodplugError("UNAVAILABLE", "m", { plugin: "kv" }),
      new OperatorError("OPERATOR_BAD_FLAG", "m"),
      new KubeApiError("GET", "/api", 500, "InternalError", "m"),
      new TerminalError("m"),
      new HarnessError("CLUSTER_NOT_READY", "m"),
    ];
    for (const e of errors) {
      assert.ok(isPodplugError(e), e.name);
      assert.ok(isPodplugError(e, e.code), e.name);
      assert.equal(isPodplugError(e, "CLIENT_CLOSED"), false);
      assert.equal(e.name, e.constructor.name);
    }
    assert.equal(errors[2]!.message, "plugins[0].spec.image: m");
    assert.deepEqual(errors[2]!.details, { path: "plugins[0].spec.image" });
    assert.equal(isPodplugError(Object.assign(new Error("x"), { code: "UNAVAILABLE" })), false);
  });

  it("docs/errors.md lists every code, and every code is thrown somewhere in its area (src/, operator/, test/cluster/)", () => {
    const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
    const texts = new Map<string, string[]>();
    for (const [file, union, dir] of UNIONS) {
      if (!texts.has(dir))
        texts.set(
          dir,
          sourceFiles(dir).map((f) => readFileSync(f, "utf8")),
        );
      for (const code of codesOf(file, union)) {
        assert.ok(doc.includes(`\`${code}\``), `docs/errors.md lists ${code} (${file})`);
        // Thrown: the quoted code outside its union's own declaration line ("| "CODE"").
        const used = texts
          .get(dir)!
          .some((text) => text.split("\n").some((line) => line.includes(`"${code}"`) && !/^\s*\|/.test(line)));
        assert.ok(used, `${code} (${file}) is thrown somewhere in ${dir}/, or should be removed`);
      }
    }
  });

  it("every code docs/errors.md tabulates is one the source declares", () => {
    const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
    const declared = new Set([...UNIONS.flatMap(([file, union]) => codesOf(file, union)), ...launcherCodes()]);
    assert.ok(declared.has("LAUNCHER_PROBE_FAILED"), "the launcher's codes were read");
    const listed = [...doc.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    assert.ok(listed.length > 40, `the catalogue's tables were read (${listed.length} codes)`);
    const stale = listed.filter((c) => !declared.has(c));
    assert.deepEqual(stale, [], "codes in docs/errors.md that no error-code union declares");
    // The operator's and the harness's codes are written out in prose, so each must be declared too.
    for (const m of doc.matchAll(/`((?:OPERATOR|KUBE|RECONCILE|CLUSTER)_[A-Z0-9_]+)`/g)) {
      assert.ok(
        declared.has(m[1]!),
        `${m[1]} in docs/errors.md is declared in operator/errors.ts or test/cluster/errors.ts`,
      );
    }
  });
});
