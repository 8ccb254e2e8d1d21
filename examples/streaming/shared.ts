/**
 * The streamer interface of go-plugin's examples/streaming, shared by the
 * TypeScript plugin and host. Same handshake and wire names as the Go example,
 * so each side also works with its Go counterpart. Read is server-streaming:
 * the plugin sends what it holds in messages of the configured chunk size.
 */
import type * as grpc from "@grpc/grpc-js";
import {
  type Read_ResponseChunk,
  StreamerServiceClient,
  type StreamerServiceServer,
  StreamerServiceService,
  type Write_RequestChunk,
} from "../../src/gen/examples/streaming/streamer.ts";
import type { GRPCPlugin, HandshakeConfig } from "../../src/host/index.ts";

export const handshake: HandshakeConfig = {
  protocolVersion: 1,
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
};

/** What a plugin implements (the Go example's Streamer): the server side does the chunking. */
export interface Streamer {
  configure(path: string, chunkSize: bigint): Promise<void>;
  read(): Promise<Buffer>;
  write(data: Buffer): Promise<void>;
}

/** What the host programs against. */
export interface StreamerClient {
  configure(path: string, chunkSize: number): Promise<void>;
  /** One server-streaming Read: `onChunk` gets each message's bytes as it arrives; resolves after the last. */
  read(onChunk: (chunk: Buffer) => void): Promise<void>;
  /** Writes `data` in messages of the configured chunk size (a client-streaming Write). */
  write(data: Buffer): Promise<void>;
}

/** Plugin side: wraps an implementation as the gRPC service (the Go example's StreamerGRPCServer). */
export function streamerServer(impl: Streamer): StreamerServiceServer {
  let chunkSize = 0;
  return {
    configure: (call, cb) => {
      chunkSize = Number(call.request.chunkSize);
      impl.configure(call.request.path, call.request.chunkSize).then(
        () => cb(null, {}),
        (err: Error) => cb(toStatus(err)),
      );
    },
    read: async (call) => {
      try {
        const data = await impl.read();
        // As the Go server: chunkSize bytes a message, nothing for a chunk size of 0.
        for (let off = 0; chunkSize > 0 && off < data.length && !call.cancelled; off += chunkSize) {
          if (!call.write({ readBytes: data.subarray(off, off + chunkSize) })) {
            await new Promise<void>((res) => {
              const go = (): void => {
                call.off("drain", go);
                call.off("close", go);
                res();
              };
              call.on("drain", go);
              call.on("close", go);
            });
          }
        }
        call.end();
      } catch (err) {
        call.emit("error", toStatus(err as Error));
      }
    },
    write: (call, cb) => {
      const parts: Buffer[] = [];
      call.on("data", (m: Write_RequestChunk) => parts.push(m.bytesToWrite));
      call.on("error", () => undefined); // the call's status reports it
      call.on("end", () =>
        impl.write(Buffer.concat(parts)).then(
          () => cb(null, {}),
          (err: Error) => cb(toStatus(err)),
        ),
      );
    },
  };
}

/** The plugin-map entry: `impl` on the plugin side, nothing on the host side. */
export function streamerPlugin(impl?: Streamer): GRPCPlugin<StreamerClient> {
  return {
    grpcServer: (_broker, server) => {
      if (!impl) throw new Error("streamerPlugin: no implementation to serve");
      server.addService(StreamerServiceService, streamerServer(impl));
    },
    grpcClient: (_broker, conn) => {
      const c = conn.client(StreamerServiceClient);
      let chunkSize = 0;
      return {
        configure: (path, size) =>
          new Promise((res, rej) =>
            c.configure({ path, chunkSize: BigInt(size) }, (err) => {
              if (err) return rej(err);
              chunkSize = size;
              res();
            }),
          ),
        read: (onChunk) =>
          new Promise((res, rej) => {
            const s = c.read({});
            s.on("data", (m: Read_ResponseChunk) => onChunk(m.readBytes));
            s.on("error", rej);
            s.on("end", () => res());
          }),
        write: (data) =>
          new Promise((res, rej) => {
            // go-plugin's Go server ends Write with OK and no response message (its client takes the io.EOF);
            // grpc-js reports that as UNIMPLEMENTED "No message received": the same success here.
            const s = c.write((err) => (err && !noResponse(err) ? rej(err) : res()));
            for (let off = 0; chunkSize > 0 && off < data.length; off += chunkSize)
              s.write({ bytesToWrite: data.subarray(off, off + chunkSize) });
            s.end();
          }),
      };
    },
  };
}

function noResponse(err: grpc.ServiceError): boolean {
  return err.code === 12 && err.details === "No message received";
}

function toStatus(err: Error): Partial<grpc.ServiceError> {
  return { code: 2, details: err.message };
}
