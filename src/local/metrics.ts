/** The local runtime's own Prometheus metrics: containers up, ready, restarted, probes failed. */
import { Counter, Gauge, Registry } from "prom-client";

export interface RuntimeMetrics {
  registry: Registry;
  up: Gauge<"pod" | "container">;
  ready: Gauge<"pod" | "container">;
  restarts: Counter<"pod" | "container">;
  probeFailures: Counter<"pod" | "container" | "probe">;
  crashLoop: Gauge<"pod" | "container">;
}

export function runtimeMetrics(): RuntimeMetrics {
  const registry = new Registry();
  const registers = [registry];
  const labelNames = ["pod", "container"] as const;
  return {
    registry,
    up: new Gauge({
      name: "podplug_local_container_up",
      help: "1 while the container's process runs.",
      labelNames,
      registers,
    }),
    ready: new Gauge({
      name: "podplug_local_container_ready",
      help: "1 while the container passes its readiness probe.",
      labelNames,
      registers,
    }),
    restarts: new Counter({
      name: "podplug_local_container_restarts_total",
      help: "Container restarts (exits and liveness kills).",
      labelNames,
      registers,
    }),
    probeFailures: new Counter({
      name: "podplug_local_probe_failures_total",
      help: "Failed probe attempts.",
      labelNames: ["pod", "container", "probe"],
      registers,
    }),
    crashLoop: new Gauge({
      name: "podplug_local_container_crash_loop",
      help: "1 while the container is in CrashLoopBackOff.",
      labelNames,
      registers,
    }),
  };
}
