/**
 * One cluster for every test file that asks for it: started by the first
 * file's `before`, stopped by mocha's root `after` once all files ran.
 */
import { onInterrupt } from "../interrupt.ts";
import { TestCluster } from "./cluster.ts";

let shared: Promise<TestCluster> | undefined;

/** The shared cluster, started on first use. */
export function sharedCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const c = new TestCluster();
    await c.start();
    return c;
  })();
  return shared;
}

/** Stops the shared cluster if one was started. */
export async function stopSharedCluster(): Promise<void> {
  if (!shared) return;
  const p = shared;
  shared = undefined;
  try {
    await (await p).stop();
  } catch {
    // A cluster that failed to start already stopped itself.
  }
}

// Ctrl-C or a SIGTERM to mocha: stop the apiserver and etcd before exiting.
onInterrupt(stopSharedCluster);

/**
 * Call at the top level of a test file: registers a root `after` that stops
 * the shared cluster once, after every file's tests. Returns a getter.
 */
export function useSharedCluster(): () => Promise<TestCluster> {
  after(async function () {
    this.timeout(60_000);
    await stopSharedCluster();
  });
  return sharedCluster;
}
