/**
 * Per-pod cost of podplug's prober (docs/launcher.md): podplug-launcher, the
 * plugin's parent in its container, and its exec probe. The agent it
 * replaced is gone (110.7 MiB per pod when last measured); the baselines
 * measured in this run are the plugin process itself (RSS) and the same
 * health check done in-process by a long-lived Node process, as the agent
 * did (`podplug run`'s stand-in, src/local/launcher.ts), for probe time.
 * go-plugin's examples/grpc plugin runs under the launcher.
 *   node bench/launcher.ts [--probes N]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launcherExec } from "../src/local/launcher.ts";
import { goPeer } from "../test/interop/peers.ts";
import { launcherPath } from "../test/launcher/launcher.ts";
import { procStatusKiB } from "./lib.ts";

const at = process.argv.indexOf("--probes");
const PROBES = at > 0 ? Number(process.argv[at + 1]) : 30;

const rssKiB = (pid: number): number => procStatusKiB(pid, "VmRSS");
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
  const launcher = spawn(launcherPath(), ["run", "--", goPeer("grpc-plugin")], { env, cwd: root, stdio: "ignore" });
  procs.push(launcher);
  await until(() => existsSync(env.PODPLUG_HANDSHAKE_FILE), 20_000, "the handshake file");

  const probeCmd = ["/podplug/bin/podplug-launcher", "probe", "-timeout", "800ms"];
  const inProcessMs: number[] = [];
  const execMs: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    let t0 = performance.now();
    const why = await launcherExec(probeCmd, env, 1000);
    inProcessMs.push(performance.now() - t0);
    if (why !== undefined) throw new Error(`bench/launcher: in-process check failed: ${why}`);
    t0 = performance.now();
    const p = spawnSync(launcherPath(), probeCmd.slice(1), { env, encoding: "utf8" });
    execMs.push(performance.now() - t0);
    if (p.status !== 0) throw new Error(`bench/launcher: probe exited ${p.status}: ${p.stderr}`);
  }
  await sleep(1000); // idle
  const launcherKiB = rssKiB(launcher.pid!);
  const pluginKiB = rssKiB(childOf(launcher.pid!));
  const mib = (k: number): string => `${(k / 1024).toFixed(1)} MiB`;
  console.log(`Prober per plugin: podplug-launcher + exec probe (go-plugin examples/grpc, ${PROBES} probes)`);
  console.log(
    `  RSS idle, after the probes    launcher ${mib(launcherKiB)}   the plugin it runs ${mib(pluginKiB)}   ratio launcher/plugin ${(launcherKiB / pluginKiB).toFixed(3)}`,
  );
  console.log("  (no agent container: it measured 110.7 MiB per pod; the launcher adds no container)");
  console.log(
    `  probe wall time, median       in-process check ${median(inProcessMs).toFixed(1)} ms (the agent's way)   launcher exec ${median(execMs).toFixed(1)} ms (fork+exec+dial+Check)   ratio exec/in-process ${(median(execMs) / median(inProcessMs)).toFixed(2)}`,
  );
} finally {
  for (const p of procs) p.kill("SIGKILL");
  await sleep(200);
  rmSync(root, { recursive: true, force: true });
}
