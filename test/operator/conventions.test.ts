/**
 * The injected pod's conventions, end to end without a kubelet: the env the
 * injection writes runs the real example plugin (podplug's serve() in sidecar
 * mode) under podplug-launcher, and the exec probes the injection adds find
 * and check it — with and without AutoMTLS. Paths under /var/run/podplug map to a temp folder, and a
 * secretKeyRef to the certificate it would hold.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container, V1PodTemplateSpec } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { LAUNCHER_BIN, MTLS_ROOT, SOCKET_ROOT } from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";
import { launcherPath } from "../launcher/launcher.ts";
import { ROOT } from "./helpers.ts";

const demoPlugins = (): Plugin[] =>
  parseAllDocuments(readFileSync(join(ROOT, "examples/demo/plugins.yaml"), "utf8")).map((d) => d.toJSON() as Plugin);
const demoHost = (): V1PodTemplateSpec =>
  (
    parseAllDocuments(readFileSync(join(ROOT, "examples/demo/host.yaml"), "utf8"))[0]!.toJSON() as {
      spec: { template: V1PodTemplateSpec };
    }
  ).spec.template;

/** The container's env as a process would get it here: paths remapped, Secret references resolved. */
function localEnv(c: V1Container, dir: string, secrets: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const value = ref ? secrets[`${ref.name}/${ref.key}`] : e.value;
    if (value === undefined) throw new Error(`no value for ${e.name} in the test`);
    env[e.name] = value.replaceAll(MTLS_ROOT, join(dir, "mtls")).replaceAll(SOCKET_ROOT, join(dir, "sockets"));
  }
  return env;
}

async function podInABox(autoMTLS: boolean): Promise<{
  dir: string;
  plugin: ManagedProcess;
  probe(kind?: "liveness" | "readiness"): boolean;
  stop(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), "podplug-pod-"));
  const plugins = demoPlugins()
    .filter((p) => p.metadata.name === "kv")
    .map((p) => ({ ...p, spec: { ...p.spec, autoMTLS } }));
  const t = inject(demoHost(), plugins, { autoMTLS: true });
  const kv = t.spec!.initContainers!.find((c) => c.name === "podplug-kv")!;
  mkdirSync(join(dir, "sockets", "kv"), { recursive: true });
  const secrets: Record<string, string> = {};
  if (autoMTLS) {
    const { generateCertificate } = await import("../../src/protocol/self-signed.ts");
    const host = await generateCertificate();
    mkdirSync(join(dir, "mtls", "kv"), { recursive: true });
    writeFileSync(join(dir, "mtls", "kv", "tls.crt"), host.certPem);
    writeFileSync(join(dir, "mtls", "kv", "tls.key"), host.keyPem);
    secrets["podplug-kv-mtls/tls.crt"] = host.certPem;
  }
  // The injected command: the plugin's own, under the launcher (here the built one, not /podplug/bin's copy).
  const [bin, sub, dashes, cmd, ...args] = kv.command!;
  assert.deepEqual([bin, sub, dashes, cmd], [LAUNCHER_BIN, "run", "--", "node"]);
  const env = localEnv(kv, dir, secrets);
  const plugin = new ManagedProcess(
    "kv",
    launcherPath(),
    ["run", "--", process.execPath, ...args.map((a) => join(ROOT, a))],
    join(dir, "kv.log"),
    env,
  );
  return {
    dir,
    plugin,
    probe(kind = "liveness") {
      const p = kind === "liveness" ? kv.livenessProbe! : kv.readinessProbe!;
      assert.equal(p.exec!.command![0], LAUNCHER_BIN);
      const r = spawnSync(launcherPath(), p.exec!.command!.slice(1), { env, encoding: "utf8", timeout: 10_000 });
      return r.status === 0;
    },
    async stop() {
      await plugin.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("the injected pod conventions run the real example plugin under the launcher, and its probes", function () {
  this.timeout(60_000);

  it("the kv plugin in sidecar mode writes its handshake file; the injected probes pass, then fail once it is killed", async () => {
    const pod = await podInABox(false);
    try {
      await waitFor(
        "the liveness probe to pass",
        async () => {
          pod.plugin.assertRunning();
          return pod.probe();
        },
        30_000,
        100,
      );
      const line = readFileSync(join(pod.dir, "sockets", "kv", "handshake"), "utf8");
      assert.match(line, new RegExp(`^1\\|1\\|unix\\|${join(pod.dir, "sockets", "kv")}/plugin\\.sock\\|grpc`));
      assert.equal(pod.probe("readiness"), true);
      // The plugin dies (not the launcher: SIGKILLed, it could not take its child along as a container's end does).
      const tasks = readdirSync(`/proc/${pod.plugin.child.pid}/task`);
      const child = tasks
        .map((k) => readFileSync(`/proc/${pod.plugin.child.pid}/task/${k}/children`, "utf8"))
        .join(" ");
      process.kill(Number(child.trim().split(/\s+/)[0]), "SIGKILL");
      await pod.plugin.exited();
      assert.equal(pod.probe(), false);
    } finally {
      await pod.stop();
    }
  });

  it("with AutoMTLS: the plugin takes PLUGIN_CLIENT_CERT from the Secret, announces its certificate, and the probe checks over mTLS", async () => {
    const pod = await podInABox(true);
    try {
      await waitFor(
        "the liveness probe to pass over mTLS",
        async () => {
          pod.plugin.assertRunning();
          return pod.probe();
        },
        30_000,
        100,
      );
      const fields = readFileSync(join(pod.dir, "sockets", "kv", "handshake"), "utf8")
        .trim()
        .split("|");
      assert.ok((fields[5] ?? "").length > 100, "the handshake announces no certificate");
      assert.ok(existsSync(join(pod.dir, "mtls", "kv", "tls.key")));
    } finally {
      await pod.stop();
    }
  });
});
