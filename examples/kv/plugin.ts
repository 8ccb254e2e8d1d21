/**
 * The TypeScript twin of go-plugin's examples/grpc/plugin-go-grpc: a KV store
 * in files `kv_<key>` in the working folder. Run it through a host:
 *   node examples/kv/host.ts put hello world
 */
import { readFile, writeFile } from "node:fs/promises";
import { serve } from "../../src/plugin/index.ts";
import { handshake, kvPlugin } from "./shared.ts";

const plugin = await serve({
  handshake,
  plugins: {
    kv: kvPlugin({
      get: (key) => readFile(`kv_${key}`),
      put: async (key, value) => {
        await writeFile(`kv_${key}`, `${value.toString()}\n\nWritten from plugin-ts-grpc`);
        plugin.logger.info("stored a value", { key, bytes: value.length });
      },
    }),
  },
});
