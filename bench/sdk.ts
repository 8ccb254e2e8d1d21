/**
 * The protocol core's benchmark: a TypeScript host calling a TypeScript
 * plugin through podplug, beside the two baselines measured in the same run —
 * raw Unix-socket ping-pong between two Node processes (the floor) and plain
 * grpc-js unary calls over a Unix socket.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { KVClient } from "../src/gen/examples/kv/kv.ts";
import { Client } from "../src/host/index.ts";
import { type Figures, measure } from "./lib.ts";

const here = import.meta.dirname;

async function startServer(mode: "raw" | "grpc", path: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, [join(here, "echo-server.ts"), mode, path], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((r) => p.stdout!.once("data", r));
  return p;
}

/** Raw ping-pong: 16-byte frames echoed by another process. */
export async function rawSocket(dir: string): Promise<Figures> {
  const path = join(dir, "raw.sock");
  const server = await startServer("raw", path);
  const sock = connect(path);
  await new Promise((r) => sock.once("connect", r));
  const frame = Buffer.alloc(20);
  frame.writeUInt32BE(16, 0);
  const waiting: (() => void)[] = [];
  let pending = 0;
  sock.on("data", (d: Buffer) => {
    pending += d.length;
    while (pending >= 20) {
      pending -= 20;
      waiting.shift()!();
    }
  });
  try {
    return await measure(
      "raw Unix socket ping-pong (floor)",
      () =>
        new Promise<void>((r) => {
          waiting.push(r);
          sock.write(frame);
        }),
    );
  } finally {
    sock.destroy();
    server.kill();
  }
}

/** Plain grpc-js unary, no podplug. */
export async function plainGrpc(dir: string): Promise<Figures> {
  const path = join(dir, "grpc.sock");
  const server = await startServer("grpc", path);
  const client = new KVClient(`unix://${path}`, grpc.credentials.createInsecure());
  try {
    return await measure(
      "plain grpc-js unary",
      () => new Promise((res, rej) => client.get({ key: "k" }, (e, r) => (e ? rej(e) : res(r)))),
    );
  } finally {
    client.close();
    server.kill();
  }
}

/** podplug: TS host → TS plugin through the SDKs. */
export async function podplugTsToTs(): Promise<Figures> {
  const client = new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: { command: process.execPath, args: [join(here, "bench-plugin.ts")] },
    logger: pino({ level: "silent" }),
  });
  try {
    const kv = await client.dispense("kv");
    return await measure("podplug TS host → TS plugin", () => kv.get("k"));
  } finally {
    await client.kill();
  }
}

/** All three, in one run. */
export async function coreFigures(): Promise<Figures[]> {
  const dir = mkdtempSync(join(tmpdir(), "ppb-"));
  try {
    return [await rawSocket(dir), await plainGrpc(dir), await podplugTsToTs()];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
