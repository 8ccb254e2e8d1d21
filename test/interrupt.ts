/**
 * Ctrl-C or a SIGTERM to mocha: every shared harness (the test cluster, the
 * real node) stops before the process exits, all of them, once. Without it
 * Node's default action ends mocha at once and leaves the apiserver, etcd
 * or the node running (the next run's reapStale() catches only a SIGKILL's
 * leftovers of the node).
 */
const stops = new Set<() => Promise<unknown>>();
let interrupted = false;

/** Runs `stop` if the test process is interrupted; returns a function that unregisters it. */
export function onInterrupt(stop: () => Promise<unknown>): () => void {
  stops.add(stop);
  return () => void stops.delete(stop);
}

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    if (interrupted) return; // a second Ctrl-C while stopping: keep stopping
    interrupted = true;
    const bound = setTimeout(() => process.exit(130), 60_000);
    void Promise.allSettled([...stops].map((s) => s())).finally(() => {
      clearTimeout(bound);
      process.exit(130);
    });
  });
