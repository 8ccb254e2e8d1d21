/**
 * The TypeScript twin of go-plugin's examples/bidirectional/plugin-go-grpc:
 * counters in files `kv_<key>` as `{"Value":N}` (the Go plugin's format), and
 * every put adds through the host's AddHelper callback.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { serve } from "../../src/plugin/index.ts";
import { type Counter, counterPlugin, handshake } from "./shared.ts";

// KV_DIR: where the data files go (default: the working folder, as the Go example).
const dir = process.env.KV_DIR ?? ".";

const counter: Counter = {
  async get(key) {
    const data = JSON.parse(await readFile(join(dir, `kv_${key}`), "utf8")) as { Value?: number };
    return BigInt(data.Value ?? 0);
  },
  async put(key, value, helper) {
    const current = await counter.get(key).catch(() => 0n);
    const r = await helper.sum(current, value);
    await writeFile(join(dir, `kv_${key}`), `{"Value":${r}}`);
  },
};

await serve({ handshake, plugins: { counter: counterPlugin(counter) } });
