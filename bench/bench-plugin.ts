/** The benchmark's plugin: the kv service answering from memory, served by podplug's serve(). */

import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { serve } from "../src/plugin/index.ts";

const value = Buffer.from("value");
await serve({ handshake, plugins: { kv: kvPlugin({ get: async () => value, put: async () => {} }) } });
