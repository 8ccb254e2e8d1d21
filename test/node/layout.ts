/**
 * Names and addresses of one real node (REAL-NODE.md, "Network layout"). The
 * network namespace and the cgroup carry a per-run id, so two runs on one
 * machine (two worktrees) never share host-global names; everything else lives
 * inside the namespace and can be fixed.
 */

/** Where one node lives on the host and inside its namespace. */
export interface NodeLayout {
  /** The id in host-global names. */
  id: string;
  /** `ip netns` name; /run/netns/<netns>. */
  netns: string;
  /** The cgroup folder under every hierarchy, also kubelet's cgroupRoot. */
  cgroup: string;
  /** Kubernetes node name. */
  nodeName: string;
  /** The node's address: apiserver :6443 and kubelet :10250 inside the namespace. */
  nodeIP: string;
  nodeCIDR: string;
  serviceCIDR: string;
  /** The first Service address: the `kubernetes` Service. */
  kubernetesServiceIP: string;
  podCIDR: string;
  /** The pod bridge's gateway address. */
  podGateway: string;
  clusterCIDR: string;
}

/** The layout of node `id` (default: this process's pid). */
export function nodeLayout(id = String(process.pid)): NodeLayout {
  return {
    id,
    netns: `podplug-node-${id}`,
    cgroup: `podplug-node-${id}`,
    nodeName: "podplug-node",
    nodeIP: "10.200.0.2",
    nodeCIDR: "10.200.0.0/24",
    serviceCIDR: "10.96.0.0/24",
    kubernetesServiceIP: "10.96.0.1",
    podCIDR: "10.244.0.0/24",
    podGateway: "10.244.0.1",
    clusterCIDR: "10.244.0.0/16",
  };
}
