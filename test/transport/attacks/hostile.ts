/**
 * The attackers of the attack suite: a raw HTTP/2 peer that sends whatever it
 * is told (bounded in bytes), reads or refuses to read, and keeps only what
 * the tests check of the victim's answers (GOAWAY, RST_STREAM codes, SETTINGS),
 * never the answers themselves, so a flood of them costs it nothing. The victim
 * is a process of its own (fixtures/victim.ts) that reports its memory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import type * as net from "node:net";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { encodeHeaders } from "../../../src/transport/h2/hpack.ts";
import { NODE, ROOT } from "../../helpers.ts";
import { frame, PREFACE, settings, u32 } from "../raw-h2.ts";

/** Frame types and flags the attacks use. */
export const F = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
} as const;

/** HTTP/2 error codes the victims answer with. */
export const CODE = {
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  ENHANCE_YOUR_CALM: 11,
};

/** A raw peer: as "client" it sends the preface; as "server" it expects one. */
export class HostilePeer {
  goaway: { code: number; debug: string } | undefined;
  /** When the GOAWAY arrived, and when the connection closed (performance.now()). */
  goawayAt: number | undefined;
  closedAt: number | undefined;
  /** The first RST_STREAM code the victim sent, per stream. */
  readonly resets = new Map<number, number>();
  /** The victim's SETTINGS. */
  readonly settings = new Map<number, number>();
  /** Streams the victim opened with HEADERS (when the victim is a client). */
  readonly requests: number[] = [];
  /** WINDOW_UPDATE increments the victim granted, per stream (0: the connection). */
  readonly granted = new Map<number, number>();
  /** DATA bytes (frame payloads) this peer sent, per stream (0: all). */
  readonly dataSent = new Map<number, number>();
  /** DATA bytes the victim sent, per stream. */
  readonly dataReceived = new Map<number, number>();
  /** PING acknowledgements the victim sent. */
  pingAcks = 0;
  closed = false;
  sent = 0;
  private buf = Buffer.alloc(0);
  private prefaceLeft: number;
  private waiters: (() => void)[] = [];
  readonly socket: net.Socket;

  constructor(socket: net.Socket, role: "client" | "server") {
    this.socket = socket;
    this.prefaceLeft = role === "server" ? PREFACE.length : 0;
    socket.on("error", () => undefined);
    // Several streams may wait for 'drain' at once (sendWithinWindows on each).
    socket.setMaxListeners(0);
    socket.on("data", (d: Buffer) => this.read(d));
    socket.on("close", () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.wake();
    });
    this.send(role === "client" ? Buffer.concat([PREFACE, settings()]) : settings());
  }

  send(b: Buffer): boolean {
    if (this.closed) return false;
    this.sent += b.length;
    return this.socket.write(b);
  }

  /**
   * Sends `total` bytes of DATA on stream `id` as `next()` frames, never beyond
   * the windows the victim granted (its SETTINGS_INITIAL_WINDOW_SIZE, 65,535 for
   * the connection, plus its WINDOW_UPDATEs): a peer that keeps the rules. Stops
   * when the victim resets the stream or grants no more within `ms`.
   */
  async sendWithinWindows(id: number, total: number, next: () => Buffer | undefined, ms: number): Promise<number> {
    const initial = this.settings.get(0x4) ?? 65_535;
    let sent = 0;
    while (sent < total && !this.closed && !this.resets.has(id)) {
      const f = next();
      if (!f) break;
      const n = f.length - 9;
      const fits = (): boolean =>
        65_535 + (this.granted.get(0) ?? 0) - (this.dataSent.get(0) ?? 0) >= n &&
        initial + (this.granted.get(id) ?? 0) - (this.dataSent.get(id) ?? 0) >= n;
      if (!fits()) await this.until(fits, ms);
      if (!fits()) break;
      this.dataSent.set(0, (this.dataSent.get(0) ?? 0) + n);
      this.dataSent.set(id, (this.dataSent.get(id) ?? 0) + n);
      sent += n;
      if (!this.send(f)) await new Promise<void>((r) => this.onceDrainOrClose(r));
    }
    return sent;
  }

  /**
   * A PING and its ACK: once it is back, the victim has read everything sent
   * before it, and what that made it send (resets, window) has arrived.
   */
  async roundTrip(ms: number): Promise<void> {
    const before = this.pingAcks;
    this.send(ping());
    await this.until(() => this.pingAcks > before, ms);
  }

  /** Stops reading: what the victim sends stays in its buffers (and the kernel's). */
  stopReading(): void {
    this.socket.pause();
  }

  startReading(): void {
    this.socket.resume();
  }

  /** Sends `next()` chunks until the victim closes, `next` returns undefined, or `maxBytes` went out. */
  async flood(next: () => Buffer | undefined, maxBytes: number): Promise<void> {
    while (!this.closed && this.sent < maxBytes) {
      const b = next();
      if (!b) return;
      if (!this.send(b)) await new Promise<void>((r) => this.onceDrainOrClose(r));
    }
  }

  /** Waits until `pred` holds, the connection closed, or `ms` passed. */
  async until(pred: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!pred() && !this.closed && Date.now() < end) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onceDrainOrClose(r: () => void): void {
    const done = (): void => {
      this.socket.off("drain", done);
      this.socket.off("close", done);
      r();
    };
    this.socket.on("drain", done);
    this.socket.on("close", done);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private read(d: Buffer): void {
    let b = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, b.length);
      this.prefaceLeft -= n;
      b = b.subarray(n);
    }
    let off = 0;
    while (b.length - off >= 9) {
      const len = b.readUIntBE(off, 3);
      if (b.length - off < 9 + len) break;
      const type = b[off + 3]!;
      const flags = b[off + 4]!;
      const id = b.readUInt32BE(off + 5) & 0x7fffffff;
      const p = b.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      if (type === F.GOAWAY && p.length >= 8 && !this.goaway) {
        this.goaway = { code: p.readUInt32BE(4), debug: p.subarray(8).toString() };
        this.goawayAt = performance.now();
      } else if (type === F.RST_STREAM && p.length === 4 && !this.resets.has(id))
        this.resets.set(id, p.readUInt32BE(0));
      else if (type === F.SETTINGS && !(flags & 1)) {
        for (let i = 0; i + 6 <= p.length; i += 6) this.settings.set(p.readUInt16BE(i), p.readUInt32BE(i + 2));
        this.socket.write(frame(F.SETTINGS, 1, 0));
      } else if (type === F.HEADERS) this.requests.push(id);
      else if (type === F.WINDOW_UPDATE && p.length === 4)
        this.granted.set(id, (this.granted.get(id) ?? 0) + (p.readUInt32BE(0) & 0x7fffffff));
      else if (type === F.DATA) this.dataReceived.set(id, (this.dataReceived.get(id) ?? 0) + p.length);
      else if (type === F.PING && flags & 1) this.pingAcks++;
    }
    // Keep only the unparsed tail (a copy, so the big read buffer can go).
    this.buf = off < b.length ? Buffer.from(b.subarray(off)) : Buffer.alloc(0);
    this.wake();
  }
}

/** A gRPC request's header block for `path`. */
export const requestBlock = (path = "/podplug.test.Echo/Unary"): Buffer =>
  encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "victim"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);

/** Messages of the gRPC framing, 16 KB DATA frames on stream `id`, until `total` bytes. */
export function messages(id: number, total: number): () => Buffer | undefined {
  const payload = Buffer.alloc(16_384 - 5, 1);
  const msg = Buffer.concat([Buffer.from([0, 0, 0, 0x3f, 0xfb]), payload]);
  let sent = 0;
  return () => {
    if (sent >= total) return undefined;
    sent += msg.length;
    return frame(F.DATA, 0, id, msg);
  };
}

/**
 * A host that grants every window as large as HTTP/2 allows (so only the
 * victim's own bounds can stop it buffering), stops reading, and asks for
 * unary calls to `path` on streams `ids`, each with one empty message.
 */
export async function askUnread(p: HostilePeer, ids: number[], path: string): Promise<void> {
  p.send(settings([[0x4, 2 ** 31 - 1]]));
  p.send(windowUpdate(0, 2 ** 31 - 1 - 65_535));
  p.stopReading();
  const out = ids.map((id) =>
    Buffer.concat([
      frame(F.HEADERS, F.END_HEADERS, id, requestBlock(path)),
      frame(F.DATA, F.END_STREAM, id, Buffer.from([0, 0, 0, 0, 0])),
    ]),
  );
  let i = 0;
  await p.flood(() => out[i++], 64 * (1 << 20));
}

/** A WINDOW_UPDATE, RST_STREAM or PING frame. */
export const windowUpdate = (id: number, inc: number): Buffer => frame(F.WINDOW_UPDATE, 0, id, u32(inc));
export const rstStream = (id: number, code: number): Buffer => frame(F.RST_STREAM, 0, id, u32(code));
export const ping = (): Buffer => frame(F.PING, 0, 0, Buffer.alloc(8));

/** What the victim reports of itself. */
export interface VictimMemory {
  rss: number;
  maxRss: number;
  maxLagMs: number;
}

/** A victim process (fixtures/victim.ts). */
export class Victim {
  private readonly lines: Interface;
  private readonly queue: ((line: string) => void)[] = [];
  readonly proc: ChildProcess;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    this.lines = createInterface({ input: proc.stdout! });
    this.lines.on("line", (l) => this.queue.shift()?.(l));
  }

  /**
   * Starts a victim: a plugin's server on `socket`, or a host dialing `socket` (hostile) and `good`;
   * `serverOptions` are added to the server's PodplugServer options.
   */
  static async start(
    mode: "server" | "client",
    socket: string,
    good?: string,
    serverOptions?: Record<string, unknown>,
  ): Promise<Victim> {
    const args = [join(ROOT, "test/transport/fixtures/victim.ts"), mode, socket];
    if (good) args.push(good);
    const env = serverOptions
      ? { ...process.env, PODPLUG_VICTIM_SERVER_OPTIONS: JSON.stringify(serverOptions) }
      : process.env;
    const v = new Victim(spawn(NODE, args, { stdio: ["pipe", "pipe", "inherit"], env }));
    const first = await v.next();
    if (first !== '"ready"') throw new Error(`victim said ${first}`);
    return v;
  }

  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, sig: string | null): void =>
        reject(new Error(`victim exited (${code ?? sig})`));
      this.proc.once("exit", onExit);
      this.queue.push((l) => {
        this.proc.off("exit", onExit);
        resolve(l);
      });
    });
  }

  async command<T>(
    cmd: "mem" | "call" | "good" | "flood" | "errors" | "budget" | "hold" | "read" | "held" | "send" | "sent",
  ): Promise<T> {
    const p = this.next();
    this.proc.stdin!.write(`${cmd}\n`);
    return JSON.parse(await p) as T;
  }

  mem(): Promise<VictimMemory> {
    return this.command<VictimMemory>("mem");
  }

  /** Ends the victim with SIGTERM; true when its handler ran (its event loop was free), false if it took SIGKILL. */
  async stop(): Promise<boolean> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return false;
    const exited = new Promise<void>((r) => this.proc.once("exit", () => r()));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
    this.lines.close();
    return this.proc.exitCode === 0;
  }
}

/** Appends an attack's figures to $PODPLUG_ATTACK_REPORT (a JSON line each), for the bench and the report. */
export function record(figures: Record<string, unknown>): void {
  const file = process.env.PODPLUG_ATTACK_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}
