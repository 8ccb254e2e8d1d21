/**
 * The images `make images` builds (docs/images.md): every image the chart,
 * the operator and the examples name is built; each runs under the
 * restricted profile's container settings (runc, read-only root, uid 65532,
 * no capabilities); the demo pod runs from them exactly as the operator
 * injects it; and a rebuild from scratch gives the same digests.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { V1Container, V1PodTemplateSpec } from "@kubernetes/client-node";
import { pino } from "pino";
import { parse, parseAllDocuments } from "yaml";
import { handshake as kvHandshake, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import {
  DEFAULT_LAUNCHER_IMAGE,
  LAUNCHER_CONTAINER,
  LAUNCHER_DIR,
  LAUNCHER_VOLUME,
  SOCKET_ROOT,
} from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { ROOT, tempDir, waitFor } from "../helpers.ts";
import {
  archiveRefs,
  type BuiltImage,
  builtImages,
  type Running,
  type RunOptions,
  run,
  runToEnd,
  unpack,
} from "./runc.ts";

const docs = (file: string): unknown[] =>
  parseAllDocuments(readFileSync(join(ROOT, file), "utf8")).map((d) => d.toJSON() as unknown);

/** Every image reference the chart, the operator's default, the README and the demo manifests name. */
function namedImages(): Map<string, string> {
  const named = new Map<string, string>();
  const values = parse(readFileSync(join(ROOT, "charts/podplug/values.yaml"), "utf8")) as {
    image: { repository: string; tag: string };
  };
  const chart = parse(readFileSync(join(ROOT, "charts/podplug/Chart.yaml"), "utf8")) as { appVersion: string };
  named.set(`${values.image.repository}:${values.image.tag || chart.appVersion}`, "charts/podplug/values.yaml image");
  named.set(DEFAULT_LAUNCHER_IMAGE, "src/inject/conventions.ts DEFAULT_LAUNCHER_IMAGE");
  for (const p of docs("examples/demo/plugins.yaml") as Plugin[]) named.set(p.spec.image, `Plugin ${p.metadata.name}`);
  const host = docs("examples/demo/host.yaml")[0] as { spec: { template: V1PodTemplateSpec } };
  for (const c of host.spec.template.spec!.containers) named.set(c.image!, `demo host container ${c.name}`);
  const goHost = docs("examples/go-host/host.yaml")[0] as { spec: { template: V1PodTemplateSpec } };
  for (const c of goHost.spec.template.spec!.containers) named.set(c.image!, `go-host container ${c.name}`);
  for (const p of docs("examples/go-host/plugin.yaml") as Plugin[])
    named.set(p.spec.image, `go-host Plugin ${p.metadata.name}`);
  for (const m of readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/ghcr\.io\/podplug\/[a-z0-9-]+:[\w.-]+/g))
    named.set(m[0], "README.md");
  return named;
}

describe("container images (make images)", function () {
  this.timeout(120_000);
  let images: BuiltImage[];
  let t: { dir: string; remove: () => void };
  let state: string;
  const unpacked = new Map<string, ReturnType<typeof unpack>>();
  const running: Running[] = [];
  const bundle = (ref: string): ReturnType<typeof unpack> => {
    const img = images.find((i) => i.ref === ref);
    assert.ok(img, `${ref} is not among the built images (${images.map((i) => i.ref).join(", ")})`);
    let b = unpacked.get(img.name);
    if (!b) {
      b = unpack(img, join(t.dir, img.name));
      unpacked.set(img.name, b);
    }
    return b;
  };

  before(() => {
    images = builtImages();
    t = tempDir("pimg-");
    state = join(t.dir, "runc");
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.remove()));
  });
  after(() => t.remove());

  it("builds every image the chart, the injection's launcher default, the README and the demo manifests name", () => {
    const built = new Set(images.map((i) => i.ref));
    for (const [ref, where] of namedImages())
      assert.ok(built.has(ref), `${where} names ${ref}, which make images does not build`);
    assert.deepEqual(images.map((i) => i.name).sort(), [
      "example-counter",
      "example-demo-host",
      "example-go-host",
      "example-go-kv",
      "example-kv",
      "podplug",
    ]);
  });

  it("each archive is an OCI layout whose index names the image at the digest images.json records", () => {
    for (const img of images) {
      const refs = archiveRefs(join(ROOT, "dist/images", img.archive));
      assert.deepEqual([...refs], [[img.ref, img.digest]], img.name);
      assert.match(img.digest, /^sha256:[0-9a-f]{64}$/);
    }
  });

  it("the podplug image: the CLI is the entrypoint, uid 65532 on a read-only root, no shell", async () => {
    const b = bundle(DEFAULT_LAUNCHER_IMAGE);
    assert.deepEqual(b.spec.process.user, { uid: 65532, gid: 65532 });
    for (const sh of ["bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"])
      assert.ok(!existsSync(join(b.rootfs, sh)), sh);
    const usage = await runToEnd(b, state, { args: [...b.entrypoint, "--help"] });
    assert.equal(usage.code, 0, usage.out);
    assert.match(usage.out, /^usage: podplug <command>/);
    const op = await runToEnd(b, state, { args: [...b.entrypoint, "operator", "--help"] });
    assert.equal(op.code, 0, op.out);
    assert.match(op.out, /^usage: podplug operator /);
    const probe = await runToEnd(b, state, {
      args: [
        "node",
        "-e",
        `const fs = require("node:fs"); let w = "written";
         try { fs.writeFileSync("/app/x", "x"); } catch (e) { w = e.code; }
         console.log(process.getuid(), process.getgid(), w, process.version)`,
      ],
    });
    assert.equal(probe.code, 0, probe.out);
    assert.match(probe.out.trim(), /^65532 65532 EROFS v24\./);
  });

  it("runs the demo pod from its images as the operator injects it: the launcher is copied, runs both plugins, its probes pass, the host calls them and is ready", async function () {
    this.timeout(90_000);
    const plugins = docs("examples/demo/plugins.yaml") as Plugin[];
    const host = docs("examples/demo/host.yaml")[0] as { spec: { template: V1PodTemplateSpec } };
    const pod = inject(host.spec.template, plugins).spec!;
    // The host process of this test runs outside the containers: the socket
    // folder moves to a temp folder, bound at the same path inside them.
    const root = join(t.dir, "s");
    for (const d of [root, ...plugins.map((p) => join(root, p.metadata.name))]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o777); // an emptyDir
    }
    // The launcher volume (an emptyDir): writable in the copy container, read-only in the others.
    const bin = join(t.dir, "bin");
    mkdirSync(bin);
    chmodSync(bin, 0o777);
    const opts = (c: V1Container, extraEnv: string[] = []): RunOptions => {
      const b = bundle(c.image!);
      // The injected containers ask for this; runc applies the same to the host's.
      if (c !== pod.containers[0]) {
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext?.runAsNonRoot, true);
      }
      assert.notEqual(b.spec.process.user.uid, 0, `${c.image} runs as root`);
      const local = (s: string): string => s.split(SOCKET_ROOT).join(root);
      return {
        ...(c.command ? { args: [...c.command, ...(c.args ?? [])].map(local) } : {}),
        ...(!c.command && c.args ? { args: [...b.entrypoint, ...c.args] } : {}),
        env: [
          ...(c.env ?? [])
            .filter((e) => !extraEnv.some((x) => x.startsWith(`${e.name}=`)))
            .map((e) => `${e.name}=${local(e.value ?? "")}`),
          ...extraEnv,
        ],
        binds: (c.volumeMounts ?? []).map((m) =>
          m.name === LAUNCHER_VOLUME
            ? { source: bin, destination: LAUNCHER_DIR, readOnly: m.readOnly === true }
            : local(m.mountPath),
        ),
      };
    };
    const start = (c: V1Container, extraEnv: string[] = []): Running => {
      const r = run(bundle(c.image!), state, opts(c, extraEnv));
      running.push(r);
      return r;
    };
    const init = pod.initContainers!;
    // The init container: the podplug image copies its launcher into the volume, and exits 0.
    const copy = init.find((c) => c.name === LAUNCHER_CONTAINER)!;
    const copied = await runToEnd(bundle(copy.image!), state, opts(copy));
    assert.equal(copied.code, 0, copied.out);
    assert.deepEqual(readdirSync(bin).sort(), ["podplug-launcher", "podplug-probe"]);
    const sidecars = init.filter((c) => c.name !== LAUNCHER_CONTAINER);
    assert.deepEqual(
      sidecars.map((c) => c.image),
      plugins.map((p) => p.spec.image).sort(),
    );
    for (const c of sidecars) start(c);
    // Each plugin's exec probe, run as the kubelet would (here from outside: the socket paths are the same).
    const exec = (c: V1Container, command: string[]): boolean =>
      spawnSync(join(bin, "podplug-launcher"), command.slice(1), {
        env: Object.fromEntries(opts(c).env!.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
        timeout: 5_000,
      }).status === 0;
    for (const c of sidecars) {
      await waitFor(() => exec(c, c.livenessProbe!.exec!.command!), 30_000, `${c.name}'s liveness probe to pass`);
      assert.equal(exec(c, c.readinessProbe!.exec!.command!), true);
    }
    const app = start(pod.containers[0]!, ["DEMO_METRICS_PORT=0"]);
    const line = await waitFor(
      () =>
        app
          .output()
          .match(/\{[^\n]*"msg":"called both plugins"[^\n]*\}/g)
          ?.at(-1),
      45_000,
      `the host's calls\n${app.output()}`,
    );
    const calls = JSON.parse(line) as { tick: number; kv: string; counter: string };
    assert.equal(calls.kv, String(calls.tick), line);
    assert.match(calls.counter, /^\d+$/, line);
    // The host's injected readiness: the host SDK says both plugins are usable.
    const hostC = pod.containers[0]!;
    await waitFor(
      () => exec(hostC, hostC.readinessProbe!.exec!.command!),
      20_000,
      "the host's readiness probe to pass",
    );
  });

  it("the unmodified Go plugin image serves go-plugin's kv example to a TS host through its socket", async () => {
    const p: Plugin = {
      apiVersion: "podplug.io/v1alpha1",
      kind: "Plugin",
      metadata: { name: "go-kv" },
      spec: {
        image: images.find((i) => i.name === "example-go-kv")!.ref,
        handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [1] },
        selector: { matchLabels: { app: "h" } },
      },
    };
    const pod = inject({ metadata: { labels: { app: "h" } }, spec: { containers: [{ name: "h", image: "h" }] } }, [p], {
      launcherImage: false,
    }).spec!;
    const c = pod.initContainers![0]!;
    const b = bundle(c.image!);
    assert.deepEqual(b.spec.process.args, ["/grpc-plugin"]);
    assert.equal(b.spec.process.cwd, "/var/run/podplug/go-kv", "the example writes kv_<key> into its working folder");
    const dir = join(t.dir, "go-kv");
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    // The socket folder at the path the image's working folder names (go-kv's folder in a pod), and here.
    running.push(
      run(b, state, {
        env: (c.env ?? []).map((e) => `${e.name}=${(e.value ?? "").split(SOCKET_ROOT).join(t.dir)}`),
        cwd: dir,
        binds: [dir],
      }),
    );
    const client = new Client({
      handshake: kvHandshake,
      plugins: { kv: kvPlugin() },
      // An unmodified Go plugin writes no handshake file: its version is given, never guessed.
      attach: { dir, protocolVersion: 1 },
      logger: pino({ level: "silent" }),
    });
    try {
      const kv = await client.dispense("kv");
      await kv.put("image", Buffer.from("from ts"));
      assert.equal((await kv.get("image")).toString(), "from ts\n\nWritten from plugin-go-grpc");
      assert.ok(existsSync(join(dir, "kv_image")), "the plugin wrote into its working folder");
    } finally {
      await client.kill();
    }
  });

  it("the Go host image (sdk/go): static, uid 65532, no shell; it calls the TS kv plugin image's sidecar, and as PID 1 exits 0 on SIGTERM", async function () {
    this.timeout(90_000);
    const plugins = docs("examples/go-host/plugin.yaml") as Plugin[];
    const host = docs("examples/go-host/host.yaml")[0] as { spec: { template: V1PodTemplateSpec } };
    const pod = inject(host.spec.template, plugins, { launcherImage: false }).spec!;
    const hostBundle = bundle(pod.containers[0]!.image!);
    assert.deepEqual(hostBundle.spec.process.user, { uid: 65532, gid: 65532 });
    assert.deepEqual(hostBundle.spec.process.args, ["/go-host"]);
    for (const sh of ["bin/sh", "bin/busybox", "lib", "usr"]) assert.ok(!existsSync(join(hostBundle.rootfs, sh)), sh);
    const root = join(t.dir, "gs");
    mkdirSync(join(root, "kv"), { recursive: true });
    chmodSync(root, 0o777);
    chmodSync(join(root, "kv"), 0o777); // an emptyDir
    const local = (s: string): string => s.split(SOCKET_ROOT).join(root);
    const kv = pod.initContainers![0]!;
    running.push(
      run(bundle(kv.image!), state, {
        args: [...kv.command!, ...(kv.args ?? [])].map(local),
        env: (kv.env ?? []).map((e) => `${e.name}=${local(e.value ?? "")}`),
        binds: [join(root, "kv")],
      }),
    );
    const app = run(hostBundle, state, {
      env: [
        ...(pod.containers[0]!.env ?? []).map((e) => `${e.name}=${local(e.value ?? "")}`),
        `PODPLUG_SOCKET_ROOT=${root}`,
        "GO_HOST_INTERVAL=200ms",
      ],
      binds: [root],
    });
    running.push(app);
    const calls = (): { tick: number; ok: boolean; value?: string }[] =>
      app
        .output()
        .split("\n")
        .filter((l) => l.includes('"msg":"call"'))
        .map((l) => JSON.parse(l) as { tick: number; ok: boolean; value?: string });
    const ok = await waitFor(() => calls().find((c) => c.ok), 45_000, `the Go host's calls\n${app.output()}`);
    assert.equal(ok.value, `${ok.tick}\n\nWritten from plugin-ts-grpc`, "the TS plugin returns what the Go host put");
    // PID 1 of its container: a signal with no handler would be ignored, so this needs the host's own handler.
    execFileSync("runc", ["--root", state, "kill", app.id, "TERM"]);
    const code = await Promise.race([
      app.exited,
      new Promise<string>((r) => setTimeout(() => r("still running"), 10_000)),
    ]);
    assert.equal(code, 0, app.output());
    assert.match(app.output(), /"msg":"stopping"/);
  });

  it("the TS example plugin images start from the demo manifests' own command (examples/<x>/plugin.ts)", async () => {
    for (const p of docs("examples/demo/plugins.yaml") as Plugin[]) {
      // Without the handshake cookie a plugin says what it is and exits 1, as go-plugin's do.
      const r = await runToEnd(bundle(p.spec.image), state, { args: p.spec.command! });
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /This binary is a plugin/);
    }
  });
});

describe("container images: reproducible", function () {
  this.timeout(600_000);

  it("a rebuild from scratch gives the same digests; another SOURCE_DATE_EPOCH gives another", async () => {
    const built = builtImages();
    const t = tempDir("prep-");
    const build = (out: string, env: NodeJS.ProcessEnv, ...names: string[]): Promise<BuiltImage[]> =>
      new Promise((resolve, reject) => {
        const p = spawn(join(ROOT, "tools/build-images.sh"), ["--no-cache", "--out", out, ...names], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "ignore", "pipe"],
        });
        let err = "";
        p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
        p.once("close", (code) => (code === 0 ? resolve(builtImages(out)) : reject(new Error(`exit ${code}\n${err}`))));
      });
    try {
      // example-kv covers the base, the app and the examples layers.
      const again = await build(join(t.dir, "a"), {}, "example-kv", "example-go-kv", "example-go-host");
      for (const img of again) {
        const before = built.find((b) => b.name === img.name)!;
        assert.equal(img.inputs, before.inputs, `${img.name}: dist/images is older than its inputs (run make images)`);
        assert.equal(img.digest, before.digest, `${img.name} rebuilt from the same inputs`);
      }
      const other = await build(join(t.dir, "b"), { SOURCE_DATE_EPOCH: "1" }, "example-go-kv");
      assert.notEqual(other[0]!.digest, built.find((b) => b.name === "example-go-kv")!.digest);
    } finally {
      t.remove();
    }
  });
});
