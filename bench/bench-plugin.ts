/** The benchmark's plugin: the kv service answering from memory, served by podplug's serve(). */
import { serve } from "../src/plugin/index.ts";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";

const value = Buffer.from("value");
await serve({ handshake, plugins: { kv: kvPlugin({ get: async () => value, put: async () => {} }) } });
