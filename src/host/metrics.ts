/**
 * Metrics the host SDK takes by itself, so plugin and host authors write no
 * metrics code: plugin state, restarts, handshake latency, and per-plugin,
 * per-method call counts, errors (by gRPC code) and latency.
 */
import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from "prom-client";

/** The metric families of one registry. */
export interface HostMetrics {
  up: Gauge<"plugin">;
  state: Gauge<"plugin" | "state">;
  restarts: Counter<"plugin">;
  handshake: Histogram<"plugin">;
  calls: Counter<"plugin" | "method" | "code">;
  callDuration: Histogram<"plugin" | "method">;
}

/** Client states, as reported in `podplug_plugin_state`. */
export const CLIENT_STATES = ["starting", "ready", "unavailable", "crash-loop", "stopped"] as const;
export type ClientState = (typeof CLIENT_STATES)[number];

const byRegistry = new WeakMap<Registry, HostMetrics>();

/** The host metrics registered in `registry` (prom-client's default registry unless given). */
export function hostMetrics(registry: Registry = defaultRegistry): HostMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  m = {
    up: new Gauge({
      name: "podplug_plugin_up",
      help: "1 while the host has a live connection to the plugin.",
      labelNames: ["plugin"],
      registers,
    }),
    state: new Gauge({
      name: "podplug_plugin_state",
      help: "1 for the plugin client's current state.",
      labelNames: ["plugin", "state"],
      registers,
    }),
    restarts: new Counter({
      name: "podplug_plugin_restarts_total",
      help: "Plugin restarts (or reconnects to a restarted sidecar).",
      labelNames: ["plugin"],
      registers,
    }),
    handshake: new Histogram({
      name: "podplug_plugin_handshake_duration_seconds",
      help: "From starting (or finding) the plugin to a connected, healthy client.",
      labelNames: ["plugin"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    calls: new Counter({
      name: "podplug_plugin_calls_total",
      help: "gRPC calls from the host to the plugin, by method and status code.",
      labelNames: ["plugin", "method", "code"],
      registers,
    }),
    callDuration: new Histogram({
      name: "podplug_plugin_call_duration_seconds",
      help: "Latency of gRPC calls from the host to the plugin.",
      labelNames: ["plugin", "method"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
  };
  byRegistry.set(registry, m);
  return m;
}

/** Sets the one-hot state gauge. */
export function setState(m: HostMetrics, plugin: string, state: ClientState): void {
  for (const s of CLIENT_STATES) m.state.set({ plugin, state: s }, s === state ? 1 : 0);
}
