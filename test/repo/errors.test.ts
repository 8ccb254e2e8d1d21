/**
 * The one error model: every area's error is a PodplugError, and the code
 * catalogue (docs/errors.md) lists exactly the codes the source can throw.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AgentError } from "../../src/agent/errors.ts";
import { isPodplugError, PodplugError } from "../../src/errors.ts";
import { InjectError } from "../../src/inject/errors.ts";
import { LocalError } from "../../src/local/errors.ts";
import { TransportError } from "../../src/transport/errors.ts";
import { HpackError } from "../../src/transport/h2/hpack.ts";
import { ROOT } from "../helpers.ts";

/** The files that declare an error-code union, and the union's name. */
const UNIONS: [string, string][] = [
  ["src/errors.ts", "ErrorCode"],
  ["src/transport/errors.ts", "TransportErrorCode"],
  ["src/transport/h2/hpack.ts", "HpackErrorCode"],
  ["src/inject/errors.ts", "InjectErrorCode"],
  ["src/agent/errors.ts", "AgentErrorCode"],
  ["src/local/errors.ts", "LocalErrorCode"],
];

function codesOf(file: string, union: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const m = new RegExp(`export type ${union} =([^;]+);`).exec(text);
  assert.ok(m, `${file} declares ${union}`);
  return [...m[1]!.matchAll(/"([A-Z0-9_]+)"/g)].map((x) => x[1]!);
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
      new AgentError("AGENT_MTLS", "m"),
      new LocalError("LOCAL_METRICS_PORT_IN_USE", "m"),
      new PodplugError("UNAVAILABLE", "m", { plugin: "kv" }),
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

  it("docs/errors.md lists every code, and every code is thrown somewhere in src/", () => {
    const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
    const src = sourceFiles("src").map((f) => readFileSync(f, "utf8"));
    for (const [file, union] of UNIONS) {
      for (const code of codesOf(file, union)) {
        assert.ok(doc.includes(`\`${code}\``), `docs/errors.md lists ${code} (${file})`);
        // Thrown: the quoted code outside its union's own declaration line ("| "CODE"").
        const used = src.some((text) =>
          text.split("\n").some((line) => line.includes(`"${code}"`) && !/^\s*\|/.test(line)),
        );
        assert.ok(used, `${code} (${file}) is thrown somewhere in src/, or should be removed`);
      }
    }
  });
});
