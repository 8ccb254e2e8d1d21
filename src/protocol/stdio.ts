/**
 * go-plugin's GRPCStdio. Plugin side: what the plugin's code writes to
 * stdout/stderr is captured and streamed to the host in chunks of at most
 * 1 KiB. Unlike Go, which blocks the writer when nobody reads, the capture
 * keeps a bounded backlog (oldest dropped, counted) so a plugin never stalls.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Empty } from "../gen/google/protobuf/empty.ts";
import { type GRPCStdioServer, type StdioData, StdioData_Channel } from "../gen/plugin/grpc_stdio.ts";

/** go-plugin's chunk size for stdio messages. */
export const STDIO_CHUNK = 1024;

type Channel = typeof StdioData_Channel.STDOUT | typeof StdioData_Channel.STDERR;

/** Plugin-side capture of process.stdout/stderr writes, served as GRPCStdio. */
export class StdioCapture {
  private readonly backlog: StdioData[] = [];
  private backlogBytes = 0;
  /** Bytes dropped because no host was reading and the backlog was full. */
  dropped = 0;
  private consumer: grpc.ServerWritableStream<Empty, StdioData> | undefined;
  private readonly maxBacklog: number;
  private restore: (() => void) | undefined;

  constructor(maxBacklog = 1 << 20) {
    this.maxBacklog = maxBacklog;
  }

  /**
   * Redirects process.stdout/stderr writes into the stream. With `tee`, they
   * also reach the real streams (sidecar mode: the container log keeps them).
   */
  install(tee: boolean): void {
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const wrap = (channel: Channel, orig: typeof out): typeof out =>
      ((
        chunk: string | Uint8Array,
        encOrCb?: BufferEncoding | ((e?: Error | null) => void),
        cb?: (e?: Error | null) => void,
      ): boolean => {
        const enc = typeof encOrCb === "string" ? encOrCb : undefined;
        const done = typeof encOrCb === "function" ? encOrCb : cb;
        this.push(channel, typeof chunk === "string" ? Buffer.from(chunk, enc) : Buffer.from(chunk));
        if (tee) return orig(chunk, enc ?? "utf8", done);
        if (done) process.nextTick(done);
        return true;
      }) as typeof out;
    process.stdout.write = wrap(StdioData_Channel.STDOUT, out);
    process.stderr.write = wrap(StdioData_Channel.STDERR, err);
    this.restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  }

  /** Puts the real process.stdout/stderr back. */
  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
  }

  /** Queues data for the host, in chunks of at most {@link STDIO_CHUNK} bytes. */
  push(channel: Channel, data: Buffer): void {
    for (let off = 0; off < data.length; off += STDIO_CHUNK) {
      const msg: StdioData = { channel, data: data.subarray(off, off + STDIO_CHUNK) };
      if (this.consumer && !this.consumer.writableNeedDrain) {
        this.consumer.write(msg);
        continue;
      }
      this.backlog.push(msg);
      this.backlogBytes += msg.data.length;
      while (this.backlogBytes > this.maxBacklog) {
        const old = this.backlog.shift()!;
        this.backlogBytes -= old.data.length;
        this.dropped += old.data.length;
      }
    }
  }

  /** Ends the stream (plugin shutdown). */
  end(): void {
    this.consumer?.end();
    this.consumer = undefined;
  }

  /** The GRPCStdio implementation. A newer StreamStdio call takes over from an older one. */
  implementation(): GRPCStdioServer {
    return {
      streamStdio: (call) => {
        this.consumer?.end();
        this.consumer = call;
        const flush = (): void => {
          while (this.backlog.length > 0 && this.consumer === call && !call.writableNeedDrain) {
            const m = this.backlog.shift()!;
            this.backlogBytes -= m.data.length;
            call.write(m);
          }
        };
        call.on("drain", flush);
        const drop = (): void => {
          if (this.consumer === call) this.consumer = undefined;
        };
        call.on("cancelled", drop);
        call.on("close", drop);
        flush();
      },
    };
  }
}
