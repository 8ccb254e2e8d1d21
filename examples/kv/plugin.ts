/**
 * The TypeScript twin of go-plugin's examples/grpc/plugin-go-grpc: a KV store
 * in files `kv_<key>` in the working folder. Run it through a host:
 *   node examples/kv/host.ts put hello world
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { serve } from "../../src/plugin/index.ts";
import { handshake, kvPlugin } from "./shared.ts";

// KV_DIR: where the data files go (default: the working folder, as the Go example).
const dir = process.env.KV_DIR ?? ".";

const plugin = await serve({
  handshake,
  plugins: {
    kv: kvPlugin({
      get: (key) => readFile(join(dir, `kv_${key}`)),
      put: async (key, value) => {
        await writeFile(join(dir, `kv_${key}`), `${value.toString()}\n\nWritten from plugin-ts-grpc`);
        plugin.logger.info("stored a value", { key, bytes: value.length });
      },
    }),
  },
});
