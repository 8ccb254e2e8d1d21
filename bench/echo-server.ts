/**
 * Baseline servers for the benchmark, run as their own process:
 *   raw <path>   length-prefixed echo over a plain Unix socket (the floor)
 *   grpc <path>  the kv example's service on a plain grpc-js server
 * Prints "ready" once listening.
 */

import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { KVService } from "../src/gen/examples/kv/kv.ts";

const [mode, path] = process.argv.slice(2);
if (!path) throw new Error("usage: echo-server.ts raw|grpc <socket path>");

if (mode === "raw") {
  createServer((sock) => {
    // Echo whole frames back: 4-byte length + payload.
    let buf: Buffer = Buffer.alloc(0);
    sock.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let off = 0;
      while (buf.length - off >= 4) {
        const n = buf.readUInt32BE(off);
        if (buf.length - off < 4 + n) break;
        off += 4 + n;
      }
      if (off > 0) {
        sock.write(buf.subarray(0, off));
        buf = buf.subarray(off);
      }
    });
  }).listen(path, () => console.log("ready"));
} else {
  const server = new grpc.Server();
  const value = Buffer.from("value");
  server.addService(KVService, {
    get: (_call: unknown, cb: grpc.sendUnaryData<{ value: Buffer }>) => cb(null, { value }),
    put: (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
  });
  server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    console.log("ready");
  });
}
