/**
 * The reporter plugin: each report reads the host's cache, queries the
 * host's database and calls another of the host's plugins, all through the
 * host API the host serves under one broker id (see shared.ts). It also
 * serves a scratch kv on the same connection.
 */
import type * as grpc from "@grpc/grpc-js";
import { serve } from "../../src/plugin/index.ts";
import { kvPlugin } from "../kv/shared.ts";
import { handshake, type Reporter, reporterPlugin } from "./shared.ts";

const reporter: Reporter = {
  async report(q, host) {
    const cached = await host.cacheGet(q.cacheKey);
    const rows = await host.query(q.table, "");
    let other: string;
    try {
      other = (await host.pluginGet(q.plugin, q.pluginKey)).toString().split("\n")[0] ?? "";
    } catch (err) {
      // The host's refusal reaches the plugin as a gRPC status; the report says it.
      const e = err as grpc.ServiceError;
      other = `error ${e.code}: ${e.details}`;
    }
    return [
      `cache ${q.cacheKey}: ${cached?.toString() ?? "(missing)"}`,
      `db ${q.table}: ${rows.map((r) => `${r.key}=${r.value}`).join(", ")}`,
      `plugin ${q.plugin} ${q.pluginKey}: ${other}`,
    ].join("\n");
  },
};

// A second plugin type on the same connection (LOOP's many services per plugin): a scratch kv in memory.
const scratch = new Map<string, Buffer>();
const kv = kvPlugin({
  get: async (key) => scratch.get(key) ?? Buffer.alloc(0),
  put: async (key, value) => void scratch.set(key, value),
});

await serve({ handshake, plugins: { reporter: reporterPlugin(reporter), kv } });
