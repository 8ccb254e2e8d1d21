/**
 * The injected pod's conventions, end to end without a kubelet: the env the
 * injection writes runs the real example plugin (podplug's serve() in sidecar
 * mode), and the agent the injection adds finds and checks it — with and
 * without AutoMTLS. Paths under /var/run/podplug map to a temp folder, and a
 * secretKeyRef to the certificate it would hold.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container, V1PodTemplateSpec } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { MTLS_ROOT, SOCKET_ROOT } from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";
import { freePort } from "../cluster/ports.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";
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

async function podInABox(
  autoMTLS: boolean,
): Promise<{ dir: string; plugin: ManagedProcess; agent: ManagedProcess; url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "podplug-pod-"));
  const plugins = demoPlugins()
    .filter((p) => p.metadata.name === "kv")
    .map((p) => ({ ...p, spec: { ...p.spec, autoMTLS } }));
  const t = inject(demoHost(), plugins, { autoMTLS: true });
  const kv = t.spec!.initContainers!.find((c) => c.name === "podplug-kv")!;
  const agentC = t.spec!.initContainers!.find((c) => c.name === "podplug-agent")!;
  mkdirSync(join(dir, "sockets", "kv"), { recursive: true });
  const secrets: Record<string, string> = {};
  if (autoMTLS) {
    const { generateCertificate } = await import("../../src/protocol/mtls.ts");
    const host = await generateCertificate();
    mkdirSync(join(dir, "mtls", "kv"), { recursive: true });
    writeFileSync(join(dir, "mtls", "kv", "tls.crt"), host.certPem);
    writeFileSync(join(dir, "mtls", "kv", "tls.key"), host.keyPem);
    secrets["podplug-kv-mtls/tls.crt"] = host.certPem;
  }
  const [cmd, ...args] = kv.command!;
  assert.equal(cmd, "node");
  const plugin = new ManagedProcess(
    "kv",
    process.execPath,
    args.map((a) => join(ROOT, a)),
    join(dir, "kv.log"),
    localEnv(kv, dir, secrets),
  );
  const port = await freePort();
  const agent = new ManagedProcess(
    "agent",
    process.execPath,
    [join(ROOT, "src/agent/main.ts")],
    join(dir, "agent.log"),
    { ...localEnv(agentC, dir), PODPLUG_AGENT_PORT: String(port), PODPLUG_AGENT_HOST: "127.0.0.1" },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "agent up",
    async () => {
      agent.assertRunning();
      return (await fetch(`${url}/healthz`)).ok;
    },
    20_000,
    100,
  );
  return {
    dir,
    plugin,
    agent,
    url,
    async stop() {
      await plugin.stop();
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("the injected pod conventions run the real example plugin and agent", function () {
  this.timeout(60_000);

  it("the kv plugin in sidecar mode writes its handshake file; the agent says SERVING, then 503 once it is killed", async () => {
    const pod = await podInABox(false);
    try {
      const r = await waitFor(
        "livez 200",
        async () => {
          pod.plugin.assertRunning();
          const res = await fetch(`${pod.url}/livez/kv`);
          return res.status === 200 ? res.text() : undefined;
        },
        30_000,
        100,
      );
      assert.equal(r, "SERVING\n");
      const line = readFileSync(join(pod.dir, "sockets", "kv", "handshake"), "utf8");
      assert.match(line, new RegExp(`^1\\|1\\|unix\\|${join(pod.dir, "sockets", "kv")}/plugin\\.sock\\|grpc`));
      assert.equal((await fetch(`${pod.url}/readyz/kv`)).status, 200);
      pod.plugin.child.kill("SIGKILL");
      await pod.plugin.exited();
      const after = await fetch(`${pod.url}/livez/kv`);
      assert.equal(after.status, 503);
    } finally {
      await pod.stop();
    }
  });

  it("with AutoMTLS: the plugin takes PLUGIN_CLIENT_CERT from the Secret, announces its certificate, and the agent checks over mTLS", async () => {
    const pod = await podInABox(true);
    try {
      await waitFor(
        "livez 200 over mTLS",
        async () => {
          pod.plugin.assertRunning();
          return (await fetch(`${pod.url}/livez/kv`)).status === 200;
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
