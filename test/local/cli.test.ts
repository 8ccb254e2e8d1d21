/** The `podplug` command as a new user meets it: help, version, wrong flags, and the Node it runs on. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nodeSatisfies } from "../../src/cli/node-version.ts";
import { NODE, ROOT } from "../helpers.ts";

const CLI = join(ROOT, "src/cli/main.ts");
const cli = (args: string[], node = NODE, script = CLI) => {
  const r = spawnSync(node, [script, ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  engines: { node: string };
};

describe("podplug CLI", function () {
  this.timeout(60_000);

  for (const args of [["--help"], ["-h"], ["help"]]) {
    it(`podplug ${args.join(" ")} prints the commands on stdout and exits 0`, () => {
      const r = cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: podplug <command>/);
      for (const c of ["run", "operator"]) assert.match(r.stdout, new RegExp(`^  ${c} `, "m"));
      assert.equal(r.stderr, "");
    });
  }

  for (const args of [
    ["run", "--help"],
    ["run", "-h"],
    ["help", "run"],
    ["run", "-f", "x", "--help"],
  ]) {
    it(`podplug ${args.join(" ")} prints run's options and exits 0 without running anything`, () => {
      const r = cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: podplug run -f/);
      for (const o of ["--file", "--metrics-port", "--state-dir", "--no-view", "--isolation", "--help"])
        assert.ok(r.stdout.includes(o), o);
    });
  }

  it("operator --help says what it is and where its settings are documented; the agent command is gone", () => {
    assert.match(cli(["operator", "--help"]).stdout, /docs\/operator\.md/);
    assert.match(cli(["agent"]).stderr, /unknown command "agent"/);
  });

  for (const args of [["--version"], ["-V"]]) {
    it(`podplug ${args[0]} prints the package's version`, () => {
      const r = cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `podplug ${pkg.version}\n`);
    });
  }

  const refusals: [string[], RegExp][] = [
    [[], /^usage: podplug <command>/],
    [["nope"], /unknown command "nope"/],
    [["--verbose"], /unknown command "--verbose"/],
    [["run"], /give at least one -f/],
    [["run", "-f", "x", "--bogus"], /Unknown option '--bogus'.*\[CLI_USAGE\]/],
    [["run", "-f", "x", "extra"], /Unexpected argument 'extra'|positional/i],
    [["run", "-f", "x", "--metrics-port", "99999"], /--metrics-port "99999" is not a port.*\[CLI_USAGE\]/],
    [["run", "-f", "x", "--metrics-port", "8o8o"], /--metrics-port "8o8o" is not a port/],
    [["run", "-f", "x", "--isolation", "strict"], /--isolation "strict": give auto, uid or none/],
  ];
  for (const [args, message] of refusals) {
    it(`refuses podplug ${args.join(" ") || "(nothing)"} with exit 2 and a message on stderr`, () => {
      const r = cli(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, "");
    });
  }

  it("on Node 20 (the machine's /usr/bin/node) the built CLI says which Node to install instead of crash-looping", () => {
    const old = "/usr/bin/node";
    const built = join(ROOT, "dist/src/cli/main.js");
    assert.ok(existsSync(old), "this test needs the system's old Node at /usr/bin/node");
    assert.ok(existsSync(built), "build first (make build): the installed CLI is dist/src/cli/main.js");
    const version = spawnSync(old, ["--version"], { encoding: "utf8" }).stdout.trim();
    assert.equal(nodeSatisfies(version, pkg.engines.node), false, `${version} is supposed to be unsupported`);
    const r = cli(["run", "-f", join(ROOT, "examples/demo"), "--no-view"], old, built);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.ok(r.stderr.includes(`this is Node ${version}`), r.stderr);
    assert.ok(r.stderr.includes(`podplug needs Node ${pkg.engines.node}`), r.stderr);
    assert.match(r.stderr, /Install Node 24 LTS/);
    assert.match(r.stderr, /\[CLI_NODE_UNSUPPORTED\]$/m);
    assert.equal(r.stdout, "", "nothing was started");
    // --version still answers on an old Node, for the bug report.
    assert.equal(cli(["--version"], old, built).stdout, `podplug ${pkg.version}\n`);
  });

  describe("nodeSatisfies", () => {
    const range = "^22.19.0 || >=24.0.0";
    const cases: [string, boolean][] = [
      ["v20.20.2", false],
      ["v22.18.9", false],
      ["v22.19.0", true],
      ["v22.21.1", true],
      ["v23.11.0", false],
      ["v24.0.0", true],
      ["v25.2.1", true],
      ["v24.0.0-nightly20250101", true],
    ];
    for (const [v, ok] of cases)
      it(`${v} ${ok ? "is" : "is not"} in ${range}`, () => assert.equal(nodeSatisfies(v, range), ok));

    it("throws on a version or range it does not understand, rather than passing", () => {
      assert.throws(() => nodeSatisfies("24", range), RangeError);
      assert.throws(() => nodeSatisfies("v24.0.0", "~24.0.0"), RangeError);
      assert.throws(() => nodeSatisfies("v24.0.0", "24.x"), RangeError);
      assert.equal(nodeSatisfies("v24.1.0", "24.1.0"), true);
    });
  });
});
