/**
 * A real single-node Kubernetes inside its own box (REAL-NODE.md): etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler, containerd,
 * kubelet and kube-proxy, all v1.33.13 from the cache, in a network namespace
 * with no default route. Clients reach the apiserver at the node address by
 * joining that namespace (`nsenter --net=`); nothing is reachable from, or
 * sends to, the machine's own interface.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdBinary, kubeBinary, kubectlBinary } from "../cluster/binaries.ts";
import { HarnessError } from "../cluster/errors.ts";
import { writeKubeconfig } from "../cluster/kubeconfig.ts";
import { type CommandResult, type RunOptions, run, runOk } from "../cluster/kubectl.ts";
import { ManagedProcess } from "../cluster/process.ts";
import { waitFor } from "../cluster/wait.ts";
import { NodeBox } from "./box.ts";
import { type CertPair, type NodeCerts, nodeCerts } from "./certs.ts";
import {
  type NodePaths,
  nodePaths,
  PAUSE_IMAGE,
  writeCniConfig,
  writeContainerdConfig,
  writeKubeletConfig,
  writeKubeProxyConfig,
} from "./files.ts";
import { type NodeLayout, nodeLayout } from "./layout.ts";

/** An OCI archive and the full image name its index carries (io.containerd.image.name). */
export interface ImageArchive {
  ref: string;
  archive: string;
  /** The manifest digest the archive's index names (images.json has it), for a reference by digest. */
  digest?: string;
}

/** Seconds from up() to each milestone, for the benchmarks and the docs. */
export type NodeTimings = Record<string, number>;

const CONTAINERD_NS = "k8s.io";
/** SIGTERM order at teardown: the clients of the apiserver first, etcd last. */
const STOP_ORDER = ["kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"];

/** One real node. up() starts it; down() leaves nothing behind. */
export class RealNode {
  readonly layout: NodeLayout;
  readonly dir: string;
  readonly paths: NodePaths;
  readonly box: NodeBox;
  readonly timings: NodeTimings = {};
  private certs: NodeCerts | undefined;
  private readonly procs = new Map<string, ManagedProcess>();
  private adminKubeconfig: string | undefined;

  constructor(layout: NodeLayout = nodeLayout()) {
    this.layout = layout;
    this.dir = mkdtempSync(join(tmpdir(), "ppnode-"));
    this.paths = nodePaths(this.dir);
    this.box = new NodeBox(layout, this.dir);
    // Who owns the folder: reapStale() removes it once that process is gone.
    writeFileSync(join(this.dir, "owner"), layout.id);
  }

  /**
   * Tears down nodes whose test process died without stopping them (killed by a
   * signal, say): their netns, cgroups and processes, and their run folders.
   */
  static async reapStale(): Promise<string[]> {
    const alive = (id: string): boolean => {
      try {
        process.kill(Number(id), 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== "ESRCH";
      }
    };
    const ids = new Set<string>();
    if (existsSync("/run/netns"))
      for (const n of readdirSync("/run/netns")) {
        const m = /^podplug-node-(\d+)$/.exec(n);
        if (m?.[1]) ids.add(m[1]);
      }
    if (existsSync("/sys/fs/cgroup/pids"))
      for (const n of readdirSync("/sys/fs/cgroup/pids")) {
        const m = /^podplug-node-(\d+)$/.exec(n);
        if (m?.[1]) ids.add(m[1]);
      }
    const reaped: string[] = [];
    for (const id of ids) {
      if (alive(id)) continue;
      await new NodeBox(nodeLayout(id), tmpdir()).destroy({ removeEmptyRunNetns: true });
      reaped.push(id);
    }
    for (const d of readdirSync(tmpdir()).filter((n) => n.startsWith("ppnode-"))) {
      const dir = join(tmpdir(), d);
      let owner = "";
      try {
        owner = readFileSync(join(dir, "owner"), "utf8").trim();
      } catch {
        continue; // Not a node folder, or not ours to judge.
      }
      if (owner && !alive(owner)) rmSync(dir, { recursive: true, force: true });
    }
    return reaped;
  }

  /** The apiserver as seen inside the namespace. */
  get server(): string {
    return `https://${this.layout.nodeIP}:6443`;
  }

  get kubeconfig(): string {
    if (!this.adminKubeconfig) throw new HarnessError("CLUSTER_NOT_READY", "the node is not up: await up() first");
    return this.adminKubeconfig;
  }

  private kubeconfigFor(name: string, pair: CertPair, certs: NodeCerts): string {
    const path = join(this.dir, `${name}.kubeconfig`);
    writeKubeconfig(path, this.server, { ...certs.base, adminCert: pair.cert, adminKey: pair.key });
    return path;
  }

  private start(name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): ManagedProcess {
    const w = this.box.wrap(bin, args);
    const p = new ManagedProcess(name, w.bin, w.args, join(this.dir, `${name}.log`), env);
    this.procs.set(name, p);
    return p;
  }

  /** Runs argv inside the node's network namespace. */
  inNet(bin: string, args: string[], opts: RunOptions = {}) {
    const [nsenter, ...pre] = this.box.netPrefix();
    return run(nsenter as string, [...pre, bin, ...args], opts);
  }

  /** kubectl's arguments as admin of this node. */
  private adminArgs(args: string[]): string[] {
    return ["--kubeconfig", this.kubeconfig, "--cache-dir", join(this.dir, "kubectl-cache"), ...args];
  }

  /** kubectl as admin, from inside the node's network namespace. */
  kubectl(args: string[], stdin?: string, timeoutMs?: number): Promise<CommandResult> {
    return this.inNet(kubectlBinary(), this.adminArgs(args), { stdin, timeoutMs });
  }

  /**
   * A streaming kubectl (`get --watch`, `logs -f`) as admin: each stdout line to `onLine` as it comes,
   * until `signal` aborts it or `timeoutMs` passes.
   */
  kubectlLines(
    args: string[],
    onLine: (line: string) => void,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<CommandResult> {
    return this.inNet(kubectlBinary(), this.adminArgs(args), { onLine, signal, timeoutMs });
  }

  /** ctr against the node's containerd (a Unix socket: no network). */
  ctr(args: string[], timeoutMs?: number): Promise<string> {
    return runOk("ctr", ["-a", this.paths.containerdSock, "-n", CONTAINERD_NS, ...args], { timeoutMs });
  }

  /** Imports OCI archives into the node's containerd, as `kind load image-archive` does; checks each name landed; names each by digest too. */
  async importImages(images: ImageArchive[]): Promise<void> {
    // Two at a time: the import is mostly unpacking, and the machine has two cores.
    const queue = [...images];
    const worker = async (): Promise<void> => {
      // Unpacking a 51 MiB image took over the default 60 s with the machine's load above 40.
      for (let i = queue.shift(); i; i = queue.shift()) await this.ctr(["images", "import", i.archive], 300_000);
    };
    await Promise.all([worker(), worker()]);
    // REF TYPE DIGEST …: the digest each name points at.
    const listed = new Map(
      (await this.ctr(["images", "ls"]))
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 3)
        .map((f) => [f[0]!, f[2]!] as const),
    );
    const lost = images.filter((i) => !listed.has(i.ref));
    if (lost.length > 0)
      throw new HarnessError(
        "CLUSTER_START_FAILED",
        `containerd imported ${lost.map((i) => i.archive).join(", ")} but not under ${lost.map((i) => i.ref).join(", ")}: ` +
          "the archive's index.json must name the image in io.containerd.image.name (tools/node/oci-archive.sh)",
      );
    // Also by digest, as a registry pull leaves an image: a Pod may name repo@sha256:… (a Plugin pinned
    // by digest), and the kubelet then reports that repository digest as the container's imageID.
    for (const i of images) {
      const digest = listed.get(i.ref);
      if (!digest?.startsWith("sha256:")) continue;
      const byDigest = `${i.ref.replace(/:[^:/]+$/, "")}@${digest}`;
      if (!listed.has(byDigest)) await this.ctr(["images", "tag", "--force", i.ref, byDigest]);
    }
  }

  /** Starts the node and resolves once it is Ready with `images` imported. */
  async up(images: ImageArchive[]): Promise<void> {
    const t0 = Date.now();
    const mark = (what: string): void => {
      this.timings[what] = (Date.now() - t0) / 1000;
    };
    try {
      const certsDir = join(this.dir, "pki");
      mkdirSync(certsDir);
      const L = this.layout;
      const certs = nodeCerts(certsDir, L);
      this.certs = certs;
      this.adminKubeconfig = this.kubeconfigFor(
        "admin",
        { cert: certs.base.adminCert, key: certs.base.adminKey },
        certs,
      );
      await this.box.create();
      mark("box");
      await Promise.all([this.startRuntime(images, mark), this.startControlPlane(certs, mark)]);
      this.startKubelet(certs);
      this.startKubeProxy(certs);
      await waitFor(
        `node ${L.nodeName} Ready`,
        async () => {
          this.assertHealthy();
          const r = await this.kubectl([
            "get",
            "node",
            L.nodeName,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ]);
          return r.code === 0 && r.stdout === "True";
        },
        60_000,
        200,
      );
      mark("nodeReady");
      // Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
      await waitFor(
        "the default ServiceAccount",
        async () => (await this.kubectl(["get", "serviceaccount", "default", "-o", "name"])).code === 0,
        60_000,
        200,
      );
      mark("defaultServiceAccount");
    } catch (err) {
      await this.down();
      throw err;
    }
  }

  private async startRuntime(images: ImageArchive[], mark: (w: string) => void): Promise<void> {
    writeContainerdConfig(this.paths);
    writeCniConfig(this.paths, this.layout);
    const p = this.start("containerd", "containerd", ["--config", this.paths.containerdConfig]);
    await waitFor(
      "containerd answering",
      async () => {
        p.assertRunning();
        return (await run("ctr", ["-a", this.paths.containerdSock, "version"])).code === 0;
      },
      20_000,
      50,
    );
    mark("containerd");
    await this.importImages(images);
    mark("imagesImported");
  }

  private async startControlPlane(certs: NodeCerts, mark: (w: string) => void): Promise<void> {
    const dataDir = join(this.dir, "etcd-data");
    const etcdEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
    const etcd = this.start(
      "etcd",
      etcdBinary(),
      [
        "--name=podplug-node",
        `--data-dir=${dataDir}`,
        "--listen-client-urls=http://127.0.0.1:2379",
        "--advertise-client-urls=http://127.0.0.1:2379",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=podplug-node=http://127.0.0.1:2380",
        "--listen-metrics-urls=",
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      etcdEnv,
    );
    const b = certs.base;
    const api = this.start("kube-apiserver", kubeBinary("kube-apiserver"), [
      "--etcd-servers=http://127.0.0.1:2379",
      `--advertise-address=${this.layout.nodeIP}`,
      "--secure-port=6443",
      `--service-cluster-ip-range=${this.layout.serviceCIDR}`,
      `--tls-cert-file=${certs.apiserver.cert}`,
      `--tls-private-key-file=${certs.apiserver.key}`,
      `--client-ca-file=${b.caCert}`,
      `--kubelet-client-certificate=${certs.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${certs.apiserverKubeletClient.key}`,
      "--kubelet-preferred-address-types=InternalIP",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${b.serviceAccountPub}`,
      `--service-account-signing-key-file=${b.serviceAccountKey}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=true",
      "--profiling=false",
    ]);
    await waitFor(
      "kube-apiserver /readyz",
      async () => {
        etcd.assertRunning();
        api.assertRunning();
        const r = await this.kubectl(["get", "--raw", "/readyz"], undefined, 5000);
        return r.code === 0 && r.stdout.trim() === "ok";
      },
      90_000,
      200,
    );
    mark("apiserverReady");
    // Only after /readyz: started earlier, the controller-manager exits on the extension-apiserver-authentication race.
    const kcm = this.kubeconfigFor("controller-manager", certs.controllerManager, certs);
    this.start("kube-controller-manager", kubeBinary("kube-controller-manager"), [
      `--kubeconfig=${kcm}`,
      `--authentication-kubeconfig=${kcm}`,
      `--authorization-kubeconfig=${kcm}`,
      "--bind-address=127.0.0.1",
      "--leader-elect=false",
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${b.serviceAccountKey}`,
      `--root-ca-file=${b.caCert}`,
      `--cluster-signing-cert-file=${b.caCert}`,
      `--cluster-signing-key-file=${b.caKey}`,
      `--flex-volume-plugin-dir=${join(this.dir, "kcm-flexvolume")}`,
      "--profiling=false",
    ]);
    const sched = this.kubeconfigFor("scheduler", certs.scheduler, certs);
    this.start("kube-scheduler", kubeBinary("kube-scheduler"), [
      `--kubeconfig=${sched}`,
      `--authentication-kubeconfig=${sched}`,
      `--authorization-kubeconfig=${sched}`,
      "--bind-address=127.0.0.1",
      "--leader-elect=false",
      "--profiling=false",
    ]);
  }

  private startKubelet(certs: NodeCerts): void {
    writeKubeletConfig(this.paths, this.layout, certs);
    mkdirSync(join(this.paths.kubeletRoot, "pki"), { recursive: true });
    this.start("kubelet", kubeBinary("kubelet"), [
      `--config=${this.paths.kubeletConfig}`,
      `--kubeconfig=${this.kubeconfigFor("kubelet", certs.kubelet, certs)}`,
      `--root-dir=${this.paths.kubeletRoot}`,
      `--cert-dir=${join(this.paths.kubeletRoot, "pki")}`,
      `--hostname-override=${this.layout.nodeName}`,
      `--node-ip=${this.layout.nodeIP}`,
      `--pod-infra-container-image=${PAUSE_IMAGE}`,
      "-v=2",
    ]);
  }

  private startKubeProxy(certs: NodeCerts): void {
    writeKubeProxyConfig(this.paths, this.layout, this.kubeconfigFor("kube-proxy", certs.kubeProxy, certs));
    this.start("kube-proxy", kubeBinary("kube-proxy"), [`--config=${this.paths.kubeProxyConfig}`]);
  }

  /** Throws, with its log tail, if a node process has died. */
  assertHealthy(): void {
    for (const p of this.procs.values()) p.assertRunning();
  }

  /** A component's process (for restart tests and benchmarks). */
  process(name: string): ManagedProcess {
    const p = this.procs.get(name);
    if (!p) throw new HarnessError("CLUSTER_START_FAILED", `the node has no ${name} process`);
    return p;
  }

  /** Stops kubelet and starts it again with the same files; pods keep running. */
  async restartKubelet(): Promise<void> {
    await this.process("kubelet").stop(5000);
    if (!this.certs) throw new HarnessError("CLUSTER_NOT_READY", "the node is not up");
    this.startKubelet(this.certs);
  }

  /** Sends `signal` to a container's main process, by its CRI id (`containerd://<id>` or `<id>`). */
  async signalContainer(containerID: string, signal: string): Promise<void> {
    // A stop or continue reaches every process of the container (a plugin under its launcher is not PID 1).
    const all = signal === "SIGSTOP" || signal === "SIGCONT" ? ["--all"] : [];
    await this.ctr(["tasks", "kill", ...all, "--signal", signal, containerID.replace(/^containerd:\/\//, "")]);
  }

  /**
   * Signals the processes of a container other than its first (under the launcher: the plugin
   * alone, its launcher left running), as a plugin that hangs on its own would be.
   */
  async signalChildren(containerID: string, signal: string): Promise<number[]> {
    const id = containerID.replace(/^containerd:\/\//, "");
    const init = (await this.ctr(["tasks", "ls"]))
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[0] === id)?.[1];
    const pids = (await this.ctr(["tasks", "ps", id]))
      .split("\n")
      .slice(1)
      .map((l) => Number(l.trim().split(/\s+/)[0]))
      .filter((pid) => Number.isInteger(pid) && pid > 0 && String(pid) !== init);
    const signalled: number[] = [];
    for (const pid of pids) {
      try {
        process.kill(pid, signal as NodeJS.Signals);
        signalled.push(pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // exited since the listing
      }
    }
    if (signalled.length === 0)
      throw new Error(`container ${id} has no process besides its first (pids ${pids.join(", ") || "none"})`);
    return signalled;
  }

  /** Stops everything and removes every trace: processes, cgroups, namespace, mounts (with the box), files. */
  async down(): Promise<void> {
    const t0 = Date.now();
    for (const name of STOP_ORDER) {
      const p = this.procs.get(name);
      if (p?.running) p.child.kill("SIGTERM");
    }
    await Promise.race([
      Promise.all([...this.procs.values()].map((p) => p.exited())),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
    await this.box.destroy();
    await Promise.all([...this.procs.values()].map((p) => p.exited()));
    this.procs.clear();
    if (!process.env.PODPLUG_KEEP_CLUSTER) rmSync(this.dir, { recursive: true, force: true });
    this.timings.teardown = (Date.now() - t0) / 1000;
  }
}
