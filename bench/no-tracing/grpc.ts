/** Stub of src/tracing/grpc.ts: never called, since the stub tracer is never on. */
function never(): never {
  throw new Error("bench/no-tracing: tracing code called in the no-tracing variant");
}
export const tracedChannel = never;
export const tracedRegistrar = never;
