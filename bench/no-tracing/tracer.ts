/** Stub of src/tracing/tracer.ts: tracing never on, nothing of OpenTelemetry loaded. */
export const TRACER_NAME = "podplug";
export function podplugTracing(): undefined {
  return undefined;
}
