/**
 * The TypeScript twin of go-plugin's examples/streaming/plugin: Write stores
 * the bytes in the configured file, Read streams the file back in messages of
 * the configured chunk size. Run it through a host, e.g. go-plugin's own
 * examples/streaming host (which starts ./plugin/streamer).
 */
import { readFile, writeFile } from "node:fs/promises";
import { serve } from "../../src/plugin/index.ts";
import { handshake, streamerPlugin } from "./shared.ts";

let path = "";
const plugin = await serve({
  handshake,
  plugins: {
    streamer: streamerPlugin({
      configure: async (p) => {
        path = p;
      },
      read: async () => {
        plugin.logger.debug("read", { path });
        return readFile(path);
      },
      write: async (data) => {
        await writeFile(path, data);
        plugin.logger.debug("write finished", { path, bytes: data.length });
      },
    }),
  },
});
