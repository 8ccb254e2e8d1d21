/**
 * The node's configuration files, written once before each component starts
 * (kube-proxy exits when its file changes). Every path is under the run
 * folder; the settings are REAL-NODE.md's, which say why each is there.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { NodeCerts } from "./certs.ts";
import type { NodeLayout } from "./layout.ts";

/** The sandbox image the node builds from source (tools/node/build-pause.sh). */
export const PAUSE_IMAGE = "localhost/podplug/pause:3.10.1";

/** Paths of one run's node files. */
export interface NodePaths {
  dir: string;
  containerdSock: string;
  containerdConfig: string;
  cniConfDir: string;
  kubeletConfig: string;
  kubeProxyConfig: string;
  kubeletRoot: string;
}

export function nodePaths(dir: string): NodePaths {
  return {
    dir,
    containerdSock: join(dir, "containerd", "containerd.sock"),
    containerdConfig: join(dir, "containerd.toml"),
    cniConfDir: join(dir, "cni", "net.d"),
    kubeletConfig: join(dir, "kubelet.yaml"),
    kubeProxyConfig: join(dir, "kube-proxy.yaml"),
    kubeletRoot: join(dir, "kubelet"),
  };
}

export function writeContainerdConfig(p: NodePaths): void {
  const c = join(p.dir, "containerd");
  mkdirSync(c, { recursive: true });
  mkdirSync(p.cniConfDir, { recursive: true });
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  writeFileSync(
    p.containerdConfig,
    `version = 2
root = "${c}/root"
state = "${c}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${p.containerdSock}"
[ttrpc]
  address = "${p.containerdSock}.ttrpc"
[${cri}]
  # No CAP_SYS_RESOURCE here: pause's oom_score_adj -998 would fail in runc.
  restrict_oom_score_adj = true
  sandbox_image = "${PAUSE_IMAGE}"
  # Pod netns bind mounts under state, not /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.cniConfDir}"
  [${cri}.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [${cri}.containerd.runtimes.runc.options]
      Root = "${c}/runc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${c}/opt"
`,
  );
}

export function writeCniConfig(p: NodePaths, L: NodeLayout): void {
  writeFileSync(
    join(p.cniConfDir, "10-podplug.conflist"),
    JSON.stringify({
      cniVersion: "0.4.0",
      name: "podplug",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          hairpinMode: true,
          ipMasq: false,
          ipam: {
            type: "host-local",
            dataDir: join(p.dir, "cni", "ipam"),
            subnet: L.podCIDR,
            gateway: L.podGateway,
            // No default route in pods: Services and the node only.
            routes: [{ dst: L.serviceCIDR }, { dst: L.nodeCIDR }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
}

export function writeKubeletConfig(p: NodePaths, L: NodeLayout, certs: NodeCerts): void {
  writeFileSync(
    p.kubeletConfig,
    stringify({
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      containerRuntimeEndpoint: `unix://${p.containerdSock}`,
      cgroupDriver: "cgroupfs",
      cgroupRoot: `/${L.cgroup}`,
      cgroupsPerQOS: true,
      enforceNodeAllocatable: ["pods"],
      failSwapOn: false,
      oomScoreAdj: 0,
      protectKernelDefaults: false,
      podLogsDir: join(p.dir, "kubelet-logs"),
      volumePluginDir: join(p.dir, "kubelet-plugins", "volume", "exec"),
      // Without it kubelet copies the host's resolv.conf (an off-host nameserver) into every pod.
      resolvConf: "",
      address: "0.0.0.0",
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: certs.base.caCert },
      },
      authorization: { mode: "Webhook" },
      // Images cannot be pulled again here: never collect them.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { "memory.available": "100Mi", "nodefs.available": "5%", "imagefs.available": "5%" },
      serializeImagePulls: false,
    }),
  );
}

export function writeKubeProxyConfig(p: NodePaths, L: NodeLayout, kubeconfig: string): void {
  writeFileSync(
    p.kubeProxyConfig,
    stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig },
      mode: "iptables",
      clusterCIDR: L.clusterCIDR,
      hostnameOverride: L.nodeName,
      oomScoreAdj: 0,
      nodePortAddresses: ["primary"],
      // 0 leaves the global conntrack settings alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
      healthzBindAddress: "127.0.0.1:10256",
      metricsBindAddress: "127.0.0.1:10249",
    }),
  );
}
