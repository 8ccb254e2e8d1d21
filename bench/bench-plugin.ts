/** The benchmark's plugin: the kv service answering from memory (what the host put, or a small fixed value), served by podplug's serve(). */

import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { serve } from "../src/plugin/index.ts";

const value = Buffer.from("value");
const store = new Map<string, Buffer>();
await serve({
  handshake,
  plugins: {
    kv: kvPlugin({ get: async (k) => store.get(k) ?? value, put: async (k, v) => void store.set(k, v) }),
  },
});
