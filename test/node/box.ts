/**
 * The node's "box" (REAL-NODE.md): one network namespace with no default
 * route, one private mount namespace held by an anchor process, and one cgroup
 * subtree in every hierarchy. Every node process joins the cgroup and the
 * anchor's namespaces, so teardown finds all of them (containerd's shims and
 * the pods too) by the cgroup and the mounts die with the mount namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HarnessError } from "../cluster/errors.ts";
import type { NodeLayout } from "./layout.ts";

const CGROUP_ROOT = "/sys/fs/cgroup";
/** Global sysctls kubelet writes; in the box, files bound over them catch the writes. */
const CAUGHT_SYSCTLS = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"];
/** Host folders kubelet and containerd write whatever their flags say; tmpfs in the box. */
const BOX_TMPFS = ["/run", "/var/lib", "/var/log"];

function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new HarnessError(
      "CLUSTER_START_FAILED",
      `${cmd} ${args.join(" ")} failed: ${(e.stderr ?? e.message).trim()}`,
    );
  }
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, name=systemd, unified). */
export function cgroupHierarchies(): string[] {
  return readdirSync(CGROUP_ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(CGROUP_ROOT, d.name, "cgroup.procs")))
    .map((d) => join(CGROUP_ROOT, d.name));
}

/** Every cgroup folder under `dir`, deepest first. */
function cgroupTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true }))
    if (d.isDirectory()) out.push(...cgroupTree(join(dir, d.name)));
  out.push(dir);
  return out;
}

function pidsIn(dir: string): number[] {
  const pids: number[] = [];
  for (const cg of cgroupTree(dir)) {
    try {
      for (const l of readFileSync(join(cg, "cgroup.procs"), "utf8").split("\n")) if (l) pids.push(Number(l));
    } catch {
      // Removed while we walked.
    }
  }
  return pids;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One node's namespaces and cgroups; create() builds them, destroy() removes every trace. */
export class NodeBox {
  readonly layout: NodeLayout;
  /** The run folder (sysctl catch files live here). */
  readonly dir: string;
  private anchor: ChildProcess | undefined;
  private madeRunNetns = false;

  constructor(layout: NodeLayout, dir: string) {
    this.layout = layout;
    this.dir = dir;
  }

  /** /run/netns/<name>, for `nsenter --net=`. */
  get netnsPath(): string {
    return `/run/netns/${this.layout.netns}`;
  }

  /** The anchor's pid: `nsenter -t <pid> -m -n` joins the box. */
  get anchorPid(): number {
    const pid = this.anchor?.pid;
    if (pid === undefined) throw new HarnessError("CLUSTER_NOT_READY", "the node box is not created yet");
    return pid;
  }

  async create(): Promise<void> {
    const L = this.layout;
    this.madeRunNetns = !existsSync("/run/netns");
    sh("ip", ["netns", "add", L.netns]);
    const ipn = (...a: string[]): string => sh("ip", ["-n", L.netns, ...a]);
    ipn("link", "set", "lo", "up");
    // No dummy link type in this kernel: a veth pair with both ends inside carries the node address.
    ipn("link", "add", "node0", "type", "veth", "peer", "name", "node0-peer");
    ipn("addr", "add", `${L.nodeIP}/24`, "dev", "node0");
    ipn("link", "set", "node0", "up");
    ipn("link", "set", "node0-peer", "up");
    // Services only: kube-proxy DNATs them first; nothing else has a route.
    ipn("route", "add", L.serviceCIDR, "dev", "node0");

    for (const h of cgroupHierarchies()) {
      for (const d of [join(h, L.cgroup), join(h, L.cgroup, "system")]) {
        mkdirSync(d, { recursive: true });
        // v1 cpuset: a cgroup takes no task until it has cpus and mems.
        if (h.endsWith("/cpuset"))
          for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(d, f), readFileSync(join(h, f)));
      }
    }

    // The anchor holds the mount namespace (and sits in the cgroup, so teardown kills it with the rest).
    this.anchor = spawn(
      "bash",
      [
        ...this.joinCgroupScript(
          `exec nsenter --net=${this.netnsPath} unshare --mount --propagation private -- sleep infinity`,
        ),
      ],
      {
        detached: true,
        stdio: "ignore",
      },
    );
    const pid = this.anchorPid;
    const own = readlinkSync("/proc/self/ns/mnt");
    for (let i = 0; ; i++) {
      let ns = own;
      try {
        ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      } catch {
        // Not there yet.
      }
      if (ns !== own && readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep")) break;
      if (i > 200)
        throw new HarnessError(
          "CLUSTER_START_FAILED",
          "the node box's anchor did not unshare its mount namespace in 4 s",
        );
      await sleep(20);
    }
    mkdirSync(join(this.dir, "sysctl"), { recursive: true });
    const lines = BOX_TMPFS.map((m) => `mount -t tmpfs podplug-box ${m}`);
    for (const s of CAUGHT_SYSCTLS) {
      const f = join(this.dir, "sysctl", s.replace("/", "."));
      writeFileSync(f, readFileSync(`/proc/sys/${s}`));
      lines.push(`mount --bind ${f} /proc/sys/${s}`);
    }
    sh("nsenter", ["-t", String(pid), "-m", "--", "sh", "-ec", lines.join("\n")]);
  }

  private joinCgroupScript(tail: string): string[] {
    const procs = cgroupHierarchies().map((h) => join(h, this.layout.cgroup, "system", "cgroup.procs"));
    return ["-c", `for f in ${procs.join(" ")}; do echo $$ > "$f"; done\n${tail}`];
  }

  /** bash argv that runs `cmd args` in the box: in its cgroup, mount and network namespaces; same pid. */
  wrap(cmd: string, args: string[]): { bin: string; args: string[] } {
    return {
      bin: "bash",
      args: [...this.joinCgroupScript(`exec nsenter -t ${this.anchorPid} -m -n -- "$@"`), "_", cmd, ...args],
    };
  }

  /** argv prefix that runs a client in the node's network namespace only (kubectl, helm, wget). */
  netPrefix(): string[] {
    return ["nsenter", `--net=${this.netnsPath}`, "--"];
  }

  /** Kills every process in the cgroup, removes the cgroups, the namespace and /run/netns if it made it (or is told to). */
  async destroy(opts: { removeEmptyRunNetns?: boolean } = {}): Promise<void> {
    const L = this.layout;
    const hierarchies = cgroupHierarchies();
    const pidsRoot = hierarchies.find((h) => h.endsWith("/pids")) ?? hierarchies[0];
    for (let i = 0; pidsRoot; i++) {
      const pids = pidsIn(join(pidsRoot, L.cgroup));
      if (pids.length === 0) break;
      for (const p of pids) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      if (i > 250)
        throw new HarnessError("CLUSTER_COMMAND_FAILED", `processes ${pids.join(",")} of ${L.cgroup} survive SIGKILL`);
      await sleep(20);
    }
    this.anchor = undefined;
    for (const h of hierarchies) {
      for (const cg of cgroupTree(join(h, L.cgroup))) {
        for (let i = 0; ; i++) {
          try {
            rmdirSync(cg);
            break;
          } catch (err) {
            // A killed task may take a moment to leave its cgroup.
            if ((err as NodeJS.ErrnoException).code === "ENOENT") break;
            if (i > 100)
              throw new HarnessError("CLUSTER_COMMAND_FAILED", `cannot remove cgroup ${cg}: ${(err as Error).message}`);
            await sleep(20);
          }
        }
      }
    }
    if (existsSync(this.netnsPath)) sh("ip", ["netns", "del", L.netns]);
    // `ip netns add` made /run/netns a self-bind mount; undo that if it was ours and is now empty.
    if (
      (this.madeRunNetns || opts.removeEmptyRunNetns) &&
      existsSync("/run/netns") &&
      readdirSync("/run/netns").length === 0
    ) {
      try {
        sh("umount", ["/run/netns"]);
      } catch {
        // Not a mount point on this system.
      }
      rmdirSync("/run/netns");
    }
  }
}
