/**
 * The npm package as a user gets it: `npm pack`, then the tarball installed
 * into a fresh project and used from there (the SDK subpath imports, the
 * `podplug` bin: `run -f`, `operator`). The install is offline: the
 * tarball's dependencies come from the npm cache at the versions this
 * project's package-lock.json pins (what the rest of the suite runs with).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

interface LockEntry {
  version?: string;
  dev?: boolean;
  [k: string]: unknown;
}
interface Lock {
  packages: Record<string, LockEntry>;
}

const npm = (args: string[], cwd: string): string =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
    // npm from PATH runs on the Node 24 of node_modules/.bin
    env: { ...process.env, npm_config_update_notifier: "false" },
  });

describe("the npm tarball, installed into a fresh project", function () {
  this.timeout(180_000);
  let t: { dir: string; remove: () => void };
  let app: string;
  let files: string[];
  let version: string;

  before(() => {
    t = tempDir("ppkg-");
    const packed = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", t.dir], ROOT)) as {
      filename: string;
      files: { path: string }[];
    }[];
    files = packed[0]!.files.map((f) => f.path);
    const tgz = packed[0]!.filename;
    app = join(t.dir, "app");
    execFileSync("mkdir", ["-p", app]);
    execFileSync("cp", [join(t.dir, tgz), join(app, tgz)]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      version: string;
      dependencies: Record<string, string>;
      bin: Record<string, string>;
      engines: Record<string, string>;
    };
    version = pkg.version;
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "consumer", version: "1.0.0", private: true, dependencies: { podplug: `file:${tgz}` } }),
    );
    // The consumer's lockfile: podplug from the tarball, its dependencies
    // exactly as this project locks them (npm ci --offline installs them
    // from the cache without asking the registry anything).
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as Lock;
    const packages: Record<string, LockEntry> = {
      "": { name: "consumer", version: "1.0.0", dependencies: { podplug: `file:${tgz}` } },
      "node_modules/podplug": {
        version: pkg.version,
        resolved: `file:${tgz}`,
        integrity: `sha512-${createHash("sha512")
          .update(readFileSync(join(app, tgz)))
          .digest("base64")}`,
        license: "MPL-2.0",
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        engines: pkg.engines,
      },
    };
    for (const [path, entry] of Object.entries(lock.packages))
      if (path.startsWith("node_modules/") && !entry.dev) packages[path] = entry;
    writeFileSync(
      join(app, "package-lock.json"),
      JSON.stringify({ name: "consumer", version: "1.0.0", lockfileVersion: 3, requires: true, packages }),
    );
    npm(["ci", "--offline"], app);
  });
  after(() => t.remove());

  it("holds the built SDKs, the operator, the CRD and the protos, and no TypeScript sources or tests", () => {
    for (const f of [
      "dist/src/plugin/index.js",
      "dist/src/host/index.d.ts",
      "dist/src/cli/main.js",
      "dist/operator/main.js",
      "dist/operator/config.js",
      "crds/plugins.podplug.io.yaml",
      "proto/plugin/grpc_controller.proto",
    ])
      assert.ok(files.includes(f), `${f} is not in the tarball`);
    const stray = files.filter((f) => /^(src|operator|test|bench|examples)\/|^dist\/(test|bench|examples)\//.test(f));
    assert.deepEqual(stray, []);
  });

  it("`podplug/plugin` and `podplug/host` import from the installed package", () => {
    writeFileSync(
      join(app, "imports.mjs"),
      `import { serve } from "podplug/plugin"; import { Client, PodplugError, sidecarAttach } from "podplug/host";
       console.log(typeof serve, typeof Client, typeof sidecarAttach, new PodplugError("PLUGIN_UNKNOWN", "x").code);`,
    );
    const out = execFileSync(NODE, ["imports.mjs"], { cwd: app, encoding: "utf8" });
    assert.equal(out.trim(), "function function function PLUGIN_UNKNOWN");
  });

  it("`npx podplug --help` prints the usage and exits 0; `--version` names the package's version", () => {
    const r = spawnSync("npx", ["--no-install", "podplug", "--help"], { cwd: app, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: podplug <command>/);
    for (const cmd of ["run", "operator"]) assert.match(r.stdout, new RegExp(`^ {2}${cmd} `, "m"));
    const v = spawnSync("npx", ["--no-install", "podplug", "--version"], { cwd: app, encoding: "utf8" });
    assert.equal(v.stdout.trim(), `podplug ${version}`);
  });

  it("`npx podplug operator --help` exits 0, and the operator's own flag parser is in the tarball", () => {
    const r = spawnSync("npx", ["--no-install", "podplug", "operator", "--help"], { cwd: app, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: podplug operator /);
    // A bad flag gets past the CLI into operator/config.ts, which names the flags it knows.
    const bad = spawnSync("npx", ["--no-install", "podplug", "operator", "--bogus"], { cwd: app, encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.doesNotMatch(bad.stderr, /ERR_MODULE_NOT_FOUND|Cannot find/, bad.stderr);
    for (const flag of ["--kubeconfig", "--leader-elect", "--metrics-bind-address"])
      assert.ok(bad.stderr.includes(flag), bad.stderr);
    assert.match(bad.stderr, /\[OPERATOR_BAD_FLAG\]/);
  });

  it("`npx podplug run -f <manifests>` runs a plugin written against the package and a host that attaches to it", async () => {
    writeFileSync(
      join(app, "plugin.mjs"),
      `import { serve } from "podplug/plugin";
       await serve({ handshake: { protocolVersion: 1, magicCookieKey: "PKG_PLUGIN", magicCookieValue: "yes" }, plugins: {} });`,
    );
    writeFileSync(
      join(app, "host.mjs"),
      `import { Client, sidecarAttach } from "podplug/host";
       const client = new Client({ name: "echo", handshake: { protocolVersion: 1, magicCookieKey: "PKG_PLUGIN", magicCookieValue: "yes" },
         plugins: {}, attach: sidecarAttach("echo") });
       const info = await client.start();
       console.log(\`host attached: version \${info.handshake.appVersion} over \${info.handshake.protocol}\`);
       process.once("SIGTERM", () => void client.kill().then(() => process.exit(0)));
       setInterval(() => {}, 1000);`,
    );
    writeFileSync(
      join(app, "manifests.yaml"),
      `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: echo}
spec:
  image: example/echo:1
  command: [node, plugin.mjs]
  handshake: {magicCookieKey: PKG_PLUGIN, magicCookieValue: "yes", protocolVersions: [1]}
  selector: {matchLabels: {app: pkg-host}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pkg-host, labels: {app: pkg-host}}
spec:
  selector: {matchLabels: {app: pkg-host}}
  template:
    metadata: {labels: {app: pkg-host}}
    spec:
      containers:
        - {name: host, image: example/host:1, command: [node, host.mjs]}
`,
    );
    const p = spawn(
      "npx",
      [
        "--no-install",
        "podplug",
        "run",
        "-f",
        "manifests.yaml",
        "--no-view",
        "--metrics-port",
        "0",
        "--state-dir",
        join(t.dir, "state"),
      ],
      // Its own process group, which Ctrl-C signals as a whole (npx, the runtime, its containers).
      { cwd: app, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let out = "";
    p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    let ended = false;
    const closed = new Promise<number | null>((res) => p.once("close", res)).finally(() => (ended = true));
    try {
      await waitFor(() => out.includes("host attached") || ended, 60_000, "the host's attach").catch((e: Error) => {
        throw new Error(`${e.message}\n${out}`);
      });
      assert.ok(!ended, `podplug run ended early:\n${out}`);
      assert.match(out, /host attached: version 1 over grpc/);
    } finally {
      process.kill(-p.pid!, "SIGINT");
    }
    await closed; // npx itself ends by the signal; the runtime stops cleanly:
    assert.ok(out.includes('"msg":"stopped"'), out);
    const pids = [...out.matchAll(/"pid":(\d+),"restarts":0,"msg":"container started"/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2, out); // plugin, host: no agent, and the launcher's copy is skipped locally
    assert.deepEqual(pids.filter(alive), []);
  });
});
