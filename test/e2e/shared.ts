/**
 * One cluster for the whole e2e suite: started by the first file that asks,
 * stopped by mocha's root `after`. The harness's node is started once (its
 * start costs ≈15 s); the host snapshot taken before it started lets
 * test/node/teardown.test.ts check that stopping it leaves nothing behind.
 */
import { existsSync } from "node:fs";
import { onInterrupt } from "../interrupt.ts";
import { nodeImages, projectImageIndex, readImageIndex } from "../node/images.ts";
import { RealNode } from "../node/node.ts";
import { type HostSnapshot, hostSnapshot } from "../node/snapshot.ts";
import { type E2ECluster, ExternalCluster, NodeCluster } from "./cluster.ts";

let shared: Promise<E2ECluster> | undefined;
let before: HostSnapshot | undefined;

/** The project's images (the images target's index), when it has been built. */
function projectImages(): ReturnType<typeof readImageIndex> {
  const index = projectImageIndex();
  return existsSync(index) ? readImageIndex(index, "make images") : [];
}

/** The suite's cluster, started (or, external, loaded) on first use. */
export function e2eCluster(): Promise<E2ECluster> {
  shared ??= (async () => {
    const images = [...nodeImages(), ...projectImages()];
    const kubeconfig = process.env.PODPLUG_E2E_KUBECONFIG;
    if (kubeconfig) {
      const c = new ExternalCluster(kubeconfig, images);
      await c.load();
      return c;
    }
    // Leftovers of a run that was SIGKILLed, before the snapshot the teardown test compares with.
    await RealNode.reapStale();
    const node = new RealNode();
    before = hostSnapshot(node.layout, node.dir);
    await node.up(images);
    return new NodeCluster(node, images);
  })();
  return shared;
}

/** Stops the suite's cluster if one was started; returns the harness node's before-snapshot, if it was one. */
export async function stopE2ECluster(): Promise<{ node: RealNode; before: HostSnapshot } | undefined> {
  if (!shared) return undefined;
  const p = shared;
  shared = undefined;
  let c: E2ECluster;
  try {
    c = await p;
  } catch {
    return undefined; // A node that failed to start already tore itself down.
  }
  await c.stop();
  return c instanceof NodeCluster && before ? { node: c.node, before } : undefined;
}

// Ctrl-C or a SIGTERM to mocha: stop the node first (reapStale() in the next run catches a SIGKILL).
onInterrupt(stopE2ECluster);

/** Call at the top level of an e2e test file: a root `after` stops the cluster once. Returns a getter. */
export function useE2ECluster(): () => Promise<E2ECluster> {
  after(async function () {
    this.timeout(60_000);
    await stopE2ECluster();
  });
  return e2eCluster;
}
