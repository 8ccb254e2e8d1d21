/**
 * podplug's own per-pod overhead in a real pod (issue 19): the RSS of every
 * podplug-launcher (PID 1 of each plugin container, the plugin its child),
 * against the plugins' own processes measured in the same pods. The agent
 * this replaced measured 110.7 MiB per pod (docs/launcher.md); it is gone, so
 * the baseline in the run is the launcher-less plugin process.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { PodJson } from "../test/e2e/demo.ts";
import type { RealNode } from "../test/node/node.ts";
import { procStatusKiB } from "./lib.ts";

const rssKiB = (pid: number): number => procStatusKiB(pid, "VmRSS");
const childrenOf = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`)
    .flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/))
    .filter((x) => x !== "")
    .map(Number);
const exeOf = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";

/** Per pod: the launchers' RSS (podplug's overhead) and the plugins' (the baseline), in KiB. */
export async function podOverhead(
  node: RealNode,
  pods: PodJson[],
  containers: readonly string[],
): Promise<{ launchers: number[]; plugins: number[]; processes: number }> {
  // containerd's view: TASK PID STATUS, one line per running container.
  const tasks = new Map(
    (await node.ctr(["tasks", "ls"]))
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 2)
      .map((f) => [f[0]!, Number(f[1])]),
  );
  const launchers: number[] = [];
  const plugins: number[] = [];
  let processes = 0;
  for (const p of pods) {
    let own = 0;
    let theirs = 0;
    for (const name of containers) {
      const s = [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])].find(
        (x) => x.name === name,
      );
      const pid = tasks.get((s?.containerID ?? "").replace(/^containerd:\/\//, ""));
      if (!pid) throw new Error(`bench/pod-rss: no running task for ${p.metadata.name}/${name}`);
      if (!exeOf(pid).endsWith("podplug-launcher"))
        throw new Error(`bench/pod-rss: ${name}'s PID 1 is ${exeOf(pid)}, not podplug-launcher`);
      own += rssKiB(pid);
      processes++;
      for (const c of childrenOf(pid)) theirs += rssKiB(c);
    }
    launchers.push(own);
    plugins.push(theirs);
  }
  return { launchers, plugins, processes };
}

/** The summary lines for `podOverhead`'s result. */
export function printOverhead(r: Awaited<ReturnType<typeof podOverhead>>): void {
  const mib = (k: number): string => `${(k / 1024).toFixed(1)} MiB`;
  const max = (xs: number[]): number => Math.max(...xs);
  console.log(
    `  podplug's own processes per pod (${r.processes / r.launchers.length} launchers, no agent container): ` +
      `RSS max ${mib(max(r.launchers))} per pod, against the plugins' own ${mib(max(r.plugins))} ` +
      `(ratio ${(max(r.launchers) / max(r.plugins)).toFixed(3)}; the agent it replaced: 110.7 MiB per pod, docs/launcher.md)`,
  );
}
