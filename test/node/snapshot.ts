/**
 * What a node may change on the host (REAL-NODE.md §8), captured so a test can
 * compare before and after teardown: the root mount table, the node's cgroups,
 * network namespaces, the root namespace's links, routes and iptables rules,
 * the three global sysctls kubelet writes, host paths kubelet, containerd and
 * kubectl write whatever their flags say, and processes that name the run.
 * Other runs' nodes (other pids in podplug-node-<pid>) are left out, so two
 * worktrees testing at once do not see each other; of the mount table only
 * the places a node can mount are compared, because other tools on a shared
 * machine (buildah, say) mount and unmount in the root namespace meanwhile.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { cgroupHierarchies } from "./box.ts";
import type { NodeLayout } from "./layout.ts";

/** Section name → sorted lines. */
export type HostSnapshot = Record<string, string[]>;

const SYSCTLS = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"];
const HOST_PATHS = [
  "/usr/libexec/kubernetes",
  "/var/log/containers",
  "/var/log/pods",
  "/var/lib/kubelet",
  "/var/lib/cni",
  "/run/containerd",
  "/etc/cni/net.d",
  join(homedir(), ".kube", "cache"),
];

function cmd(bin: string, args: string[]): string[] {
  try {
    return execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n");
  } catch {
    return [`(${bin} ${args.join(" ")} failed)`];
  }
}

function listing(path: string): string[] {
  if (!existsSync(path)) return [`${path}: absent`];
  try {
    return [`${path}: ${readdirSync(path).sort().join(" ")}`];
  } catch {
    return [`${path}: present`];
  }
}

/** Lines naming another run's node (podplug-node-<other id>) are not ours to compare. */
function ours(L: NodeLayout): (line: string) => boolean {
  return (line) => {
    for (const m of line.matchAll(/podplug-node-(\d+)/g)) if (m[1] !== L.id) return false;
    return line.trim() !== "";
  };
}

/** Mount points a node could leave behind: the run folder, netns files, the runtime's and kubelet's folders, /proc/sys, cgroups. */
const NODE_MOUNT_PLACES = [
  "/run/netns",
  "/run/containerd",
  "/var/lib/kubelet",
  "/var/lib/containerd",
  "/var/lib/cni",
  "/var/log",
  "/proc/sys",
  "/sys/fs/cgroup",
];

/** The host's state as far as node `L` (run folder `dir`) could change it. */
export function hostSnapshot(L: NodeLayout, dir: string): HostSnapshot {
  const keep = ours(L);
  const places = [dir, ...NODE_MOUNT_PLACES];
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    // mount point, fs type and source; ids and options are not what we compare.
    .map((l) => {
      const f = l.split(" ");
      const dash = f.indexOf("-");
      return dash < 0 ? "" : `${f[4]} ${f[dash + 1]} ${f[dash + 2]}`;
    })
    .filter((m) => {
      const [point = "", fstype = "", source = ""] = m.split(" ");
      return (
        places.some((p) => point === p || point.startsWith(`${p}/`)) ||
        fstype === "nsfs" ||
        source === "podplug-box" ||
        point.includes("podplug-node")
      );
    });
  const cgroups: string[] = [];
  for (const h of cgroupHierarchies())
    for (const d of readdirSync(h, { withFileTypes: true }))
      if (d.isDirectory() && /^(kubepods|podplug)/.test(d.name)) cgroups.push(join(h, d.name));
  const procs: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cl = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cl.includes(dir) || cl.includes(L.netns) || cl.includes(L.cgroup)) procs.push(`${pid} ${cl}`);
    } catch {
      // Exited while we looked.
    }
  }
  const noCounters = (l: string): string => l.replace(/\[\d+:\d+\]/g, "");
  // /run/netns (and its bind mount, which `ip netns add` makes) belongs to every user of named
  // namespaces, another run's node included: only the namespaces in it are this node's to compare.
  const namespaces = existsSync("/run/netns") ? readdirSync("/run/netns") : [];
  const snap: HostSnapshot = {
    // Its bind mount is the folder's, whoever made it; the namespaces mounted in it are compared below.
    mounts: mounts.filter((m) => !m.startsWith("/run/netns ")),
    cgroups,
    // The namespaces in /run/netns (the folder and its bind mount are left out of the mounts above).
    netns: namespaces,
    links: cmd("ip", ["-o", "link"]).map((l) => l.replace(/^\d+: /, "")),
    routes: [...cmd("ip", ["route"]), ...cmd("ip", ["-6", "route"])],
    iptables: cmd("iptables-save", [])
      .filter((l) => !l.startsWith("#"))
      .map(noCounters),
    ip6tables: cmd("ip6tables-save", [])
      .filter((l) => !l.startsWith("#"))
      .map(noCounters),
    sysctls: SYSCTLS.map((s) => `${s}=${readFileSync(`/proc/sys/${s}`, "utf8").trim()}`),
    hostPaths: HOST_PATHS.flatMap(listing),
    processes: procs,
  };
  for (const k of Object.keys(snap)) snap[k] = (snap[k] ?? []).filter(keep).sort();
  return snap;
}

/** Human-readable differences, one line each ("+" appeared, "-" disappeared); empty when equal. */
export function diffSnapshots(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = new Set(before[k] ?? []);
    const a = new Set(after[k] ?? []);
    for (const l of a) if (!b.has(l)) out.push(`${k}: + ${l}`);
    for (const l of b) if (!a.has(l)) out.push(`${k}: - ${l}`);
  }
  return out;
}
