/**
 * Unary calls of generated clients without grpc-js's client machinery. A
 * generated client's unary method runs grpc-js's makeUnaryRequest: argument
 * shuffling, an intercepting-call stack, an EventEmitter, and a `new Error()`
 * per call (a captured stack, kept in case the call fails) — in profiles of
 * the host's hot path that was the largest single cost of a small call after
 * the socket itself. {@link directClient} builds the client as usual and
 * gives each unary method one that drives the channel's call directly, with
 * grpc-js's contract: the callback gets the response or a ServiceError (code,
 * details, metadata; message `<code> <NAME>: <details>`), the returned call
 * emits 'metadata' and 'status' and can be cancelled. Calls with interceptors
 * in their options go through grpc-js unchanged. The one difference: a failed
 * call's stack shows where its status was delivered, not the caller's frames.
 */
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";

type Call = grpc.experimental.CallStream;
type Definition = grpc.MethodDefinition<unknown, unknown>;
type UnaryArgs = [unknown, unknown?, unknown?];

/** A generated client class: grpc-js's `makeGenericClientConstructor` output (ts-proto's `KVClient`, ...). */
export type GeneratedClientConstructor<C> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ClientOptions,
) => C;

/** grpc-js's own unary method, for calls with interceptors (its full overload: all seven arguments). */
const grpcUnary = grpc.Client.prototype.makeUnaryRequest as (
  this: grpc.Client,
  method: string,
  serialize: (v: unknown) => Buffer,
  deserialize: (b: Buffer) => unknown,
  argument: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<unknown>,
) => grpc.ClientUnaryCall;

/**
 * `new ctor(..., { channelOverride: channel })`, with the direct unary path on
 * every unary method of its service. Built here, the client has no
 * client-level interceptors, which the direct path could not see.
 */
export function directClient<C>(
  ctor: GeneratedClientConstructor<C>,
  credentials: grpc.ChannelCredentials,
  channel: grpc.ChannelInterface,
): C {
  const client = new ctor("unused", credentials, { channelOverride: channel });
  const service = (ctor as Partial<grpc.ServiceClientConstructor>).service;
  if (!(client instanceof grpc.Client) || !service) return client;
  for (const name of Object.keys(service)) {
    const def = service[name] as Definition & { originalName?: string };
    if (def.requestStream || def.responseStream) continue;
    const method = (arg: unknown, a1?: unknown, a2?: unknown, a3?: unknown): grpc.ClientUnaryCall =>
      unary(client, channel, def, arg, [a1, a2, a3]);
    Object.defineProperty(client, name, { value: method, writable: true, configurable: true });
    if (def.originalName && def.originalName !== name)
      Object.defineProperty(client, def.originalName, { value: method, writable: true, configurable: true });
  }
  return client;
}

function unary(
  client: grpc.Client,
  channel: grpc.ChannelInterface,
  def: Definition,
  argument: unknown,
  [a1, a2, a3]: UnaryArgs,
): grpc.ClientUnaryCall {
  // grpc-js's optional arguments: (cb), (metadata, cb), (options, cb), (metadata, options, cb).
  let metadata: grpc.Metadata;
  let options: grpc.CallOptions;
  let callback: grpc.requestCallback<unknown>;
  if (typeof a1 === "function") {
    metadata = new grpc.Metadata();
    options = {};
    callback = a1 as grpc.requestCallback<unknown>;
  } else if (typeof a2 === "function") {
    if (a1 instanceof grpc.Metadata) {
      metadata = a1;
      options = {};
    } else {
      metadata = new grpc.Metadata();
      options = (a1 ?? {}) as grpc.CallOptions;
    }
    callback = a2 as grpc.requestCallback<unknown>;
  } else {
    if (!(a1 instanceof grpc.Metadata && a2 instanceof Object && typeof a3 === "function"))
      throw new Error("Incorrect arguments passed");
    metadata = a1;
    options = a2 as grpc.CallOptions;
    callback = a3 as grpc.requestCallback<unknown>;
  }
  if ((options.interceptors?.length ?? 0) > 0 || (options.interceptor_providers?.length ?? 0) > 0) {
    return grpcUnary.call(
      client,
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      argument,
      metadata,
      options,
      callback,
    );
  }
  const call = channel.createCall(
    def.path,
    options.deadline ?? Infinity,
    options.host,
    (options.parent ?? null) as Parameters<grpc.ChannelInterface["createCall"]>[3],
    options.propagate_flags,
  );
  if (options.credentials) call.setCredentials(options.credentials);
  const surface = new DirectUnaryCall(call, def.responseDeserialize, callback);
  call.start(metadata, surface);
  call.startRead();
  let bytes: Buffer;
  try {
    bytes = def.requestSerialize(argument);
  } catch (err) {
    call.cancelWithStatus(grpc.status.INTERNAL, `Request message serialization failure: ${messageOf(err)}`);
    return surface;
  }
  call.sendMessageWithContext({}, bytes);
  call.halfClose();
  return surface;
}

/** The call a unary method returns, and the listener of the channel's call: one object per call. */
class DirectUnaryCall extends EventEmitter implements grpc.ClientUnaryCall, grpc.InterceptingListener {
  private readonly inner: Call;
  private readonly deserialize: (b: Buffer) => unknown;
  private readonly callback: grpc.requestCallback<unknown>;
  private response: unknown;
  private received = false;
  private done = false;
  private readError: grpc.StatusObject | undefined;

  constructor(call: Call, deserialize: (b: Buffer) => unknown, callback: grpc.requestCallback<unknown>) {
    super();
    this.inner = call;
    this.deserialize = deserialize;
    this.callback = callback;
  }

  cancel(): void {
    this.inner.cancelWithStatus(grpc.status.CANCELLED, "Cancelled on client");
  }

  getPeer(): string {
    return this.inner.getPeer();
  }

  getAuthContext(): ReturnType<grpc.ClientUnaryCall["getAuthContext"]> {
    return this.inner.getAuthContext();
  }

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.emit("metadata", metadata);
  }

  onReceiveMessage(message: Buffer): void {
    if (this.received) {
      this.inner.cancelWithStatus(grpc.status.UNIMPLEMENTED, "Too many responses received");
      return;
    }
    try {
      this.response = this.deserialize(message);
    } catch (err) {
      const details = `Response message parsing error: ${messageOf(err)}`;
      this.readError = { code: grpc.status.INTERNAL, details, metadata: new grpc.Metadata() };
      this.inner.cancelWithStatus(grpc.status.INTERNAL, details);
      return;
    }
    this.received = true;
  }

  onReceiveStatus(st: grpc.StatusObject): void {
    if (this.done) return;
    this.done = true;
    const status = this.readError ?? st;
    if (status.code !== grpc.status.OK) this.callback(serviceError(status));
    else if (!this.received)
      this.callback(
        serviceError({ code: grpc.status.UNIMPLEMENTED, details: "No message received", metadata: status.metadata }),
      );
    else this.callback(null, this.response);
    this.emit("status", status);
  }
}

/** grpc-js's ServiceError for a status: an Error with the status's fields. */
function serviceError(st: grpc.StatusObject): grpc.ServiceError {
  const err = new Error(`${st.code} ${grpc.status[st.code]}: ${st.details}`);
  return Object.assign(err, { code: st.code, details: st.details, metadata: st.metadata });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
