/**
 * Per-pod cost of podplug's prober, two ways (docs/launcher.md): the
 * podplug-agent (a Node process answering httpGet probes) vs podplug-launcher
 * (already the plugin's parent; `launcher probe` answers an exec probe).
 * Both probe the same go-plugin examples/grpc plugin, which runs under the
 * launcher. Printed as ratios to the agent, measured in this run.
 *   node bench/launcher.ts [--probes N]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goPeer } from "../test/interop/peers.ts";
import { launcherPath } from "../test/launcher/launcher.ts";

const ROOT = join(import.meta.dirname, "..");
const at = process.argv.indexOf("--probes");
const PROBES = at > 0 ? Number(process.argv[at + 1]) : 30;

const rssKiB = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench/launcher: timed out waiting for ${what}`);
    await sleep(20);
  }
}
const childOf = (pid: number): number =>
  Number(
    readdirSync(`/proc/${pid}/task`)
      .map((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8"))
      .join(" ")
      .trim()
      .split(/\s+/)[0],
  );

const root = mkdtempSync(join(tmpdir(), "pbl-"));
const socks = join(root, "kv");
mkdirSync(socks);
const env = {
  PATH: process.env.PATH ?? "",
  BASIC_PLUGIN: "hello",
  PLUGIN_PROTOCOL_VERSIONS: "1",
  PLUGIN_UNIX_SOCKET_DIR: socks,
  PODPLUG_HANDSHAKE_FILE: join(socks, "handshake"),
  PODPLUG_PLUGIN_NAME: "kv",
};
const procs: ChildProcess[] = [];
try {
  const launcher = spawn(launcherPath(), [goPeer("grpc-plugin")], { env, cwd: root, stdio: "ignore" });
  procs.push(launcher);
  await until(() => existsSync(env.PODPLUG_HANDSHAKE_FILE), 20_000, "the handshake file");

  const agent = spawn(process.execPath, [join(ROOT, "src", "agent", "main.ts")], {
    env: {
      ...process.env,
      PODPLUG_SOCKET_ROOT: root,
      PODPLUG_PLUGINS: "kv",
      PODPLUG_AGENT_PORT: "0",
      PODPLUG_AGENT_HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  procs.push(agent);
  let out = "";
  agent.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  await until(() => /"port":\d+/.test(out), 20_000, "the agent to listen");
  const url = `http://127.0.0.1:${/"port":(\d+)/.exec(out)![1]}/livez/kv?timeoutMs=800`;

  const httpMs: number[] = [];
  const execMs: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    let t0 = performance.now();
    const r = await fetch(url);
    await r.text();
    httpMs.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`bench/launcher: agent answered ${r.status}`);
    t0 = performance.now();
    const p = spawnSync(launcherPath(), ["probe"], { env, encoding: "utf8" });
    execMs.push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`bench/launcher: probe exited ${p.status}: ${p.stderr}`);
  }
  await sleep(1000); // idle
  const agentKiB = rssKiB(agent.pid!);
  const launcherKiB = rssKiB(launcher.pid!);
  const pluginKiB = rssKiB(childOf(launcher.pid!));
  const mib = (k: number): string => `${(k / 1024).toFixed(1)} MiB`;
  console.log(`Prober per pod: podplug-agent vs podplug-launcher (go-plugin examples/grpc, ${PROBES} probes each)`);
  console.log(
    `  RSS idle, after the probes    agent ${mib(agentKiB)}   launcher ${mib(launcherKiB)}   ratio launcher/agent ${(launcherKiB / agentKiB).toFixed(3)}`,
  );
  console.log(`  (the plugin itself: ${mib(pluginKiB)}; the agent is one more container per pod, the launcher none)`);
  console.log(
    `  probe wall time, median       agent httpGet ${median(httpMs).toFixed(1)} ms   launcher exec ${median(execMs).toFixed(1)} ms (fork+exec+dial+Check)   ratio exec/http ${(median(execMs) / median(httpMs)).toFixed(2)}`,
  );
} finally {
  for (const p of procs) p.kill("SIGKILL");
  await sleep(200);
  rmSync(root, { recursive: true, force: true });
}
