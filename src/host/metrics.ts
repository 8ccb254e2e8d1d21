/**
 * Metrics the host SDK takes by itself, so plugin and host authors write no
 * metrics code: plugin state, restarts, handshake latency, and the RED
 * metrics of every call the host makes (call-metrics.ts; names in docs/metrics.md).
 */
import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from "prom-client";
import { CallMetrics } from "./call-metrics.ts";

/** The metric families of one registry. */
export interface HostMetrics {
  up: Gauge<"plugin">;
  state: Gauge<"plugin" | "state">;
  restarts: Counter<"plugin">;
  handshake: Histogram<"plugin">;
  /** `podplug_host_calls_total` and `podplug_host_call_duration_seconds`: calls the host makes to its plugins. */
  calls: CallMetrics;
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
    calls: new CallMetrics(registry, {
      calls: "podplug_host_calls_total",
      callsHelp: "gRPC calls the host made to a plugin, by service, method and status code.",
      duration: "podplug_host_call_duration_seconds",
      durationHelp: "Duration of gRPC calls the host made to a plugin, from the call's start to its status.",
    }),
  };
  byRegistry.set(registry, m);
  return m;
}

/** Sets the one-hot state gauge. */
export function setState(m: HostMetrics, plugin: string, state: ClientState): void {
  for (const s of CLIENT_STATES) m.state.set({ plugin, state: s }, s === state ? 1 : 0);
}
