/**
 * A host with a host API: it runs the reporter plugin and a kv plugin, and
 * serves the reporter its cache, its database and calls into the kv plugin
 * (the host proxies between its plugins, as chainlink's LOOP hosts do).
 *   node examples/hostapi/host.ts [PLUGIN_NAME]   (default "kv")
 * KV_PLUGIN: the kv plugin's shell command (default podplug's TypeScript kv
 * plugin; go-plugin's examples/grpc plugin works too). HOSTAPI_MULTIPLEX=1:
 * the reporter's connection and its broker ride one yamux session.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Client } from "../../src/host/index.ts";
import { handshake as kvHandshake, kvPlugin } from "../kv/shared.ts";
import { type HostApi, handshake, notFound, reporterPlugin } from "./shared.ts";

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const logger = pino({ level: process.env.LOG_LEVEL ?? "warn" }, pino.destination(2));
const work = mkdtempSync(join(tmpdir(), "hostapi-"));
const kvClient = new Client({
  handshake: kvHandshake,
  plugins: { kv: kvPlugin() },
  cmd: {
    command: "sh",
    args: ["-c", `exec ${process.env.KV_PLUGIN ?? `${process.execPath} ${here("../kv/plugin.ts")}`}`],
    cwd: work,
    env: { KV_DIR: work },
  },
  name: "kv",
  logger,
});
const reporterClient = new Client({
  handshake,
  plugins: { reporter: reporterPlugin() },
  cmd: { command: process.execPath, args: [here("plugin.ts")] },
  name: "reporter",
  multiplex: process.env.HOSTAPI_MULTIPLEX === "1",
  logger,
});

const cache = new Map([["motd", Buffer.from("hello from the host's cache")]]);
const tables: Record<string, { key: string; value: string }[]> = {
  users: [
    { key: "u1", value: "ada" },
    { key: "u2", value: "grace" },
  ],
};
const plugins = { kv: () => kvClient.dispense("kv") };
const hostApi: HostApi = {
  cacheGet: async (key) => cache.get(key),
  query: async (table, prefix) => {
    const rows = tables[table];
    if (!rows) throw notFound(`no table ${JSON.stringify(table)} (tables: ${Object.keys(tables).join(", ")})`);
    return rows.filter((r) => r.key.startsWith(prefix));
  },
  pluginGet: async (name, key) => {
    const open = plugins[name as keyof typeof plugins];
    if (!open)
      throw notFound(`no plugin ${JSON.stringify(name)} in this host (plugins: ${Object.keys(plugins).join(", ")})`);
    return (await open()).get(key);
  },
};

try {
  await (await kvClient.dispense("kv")).put("greeting", Buffer.from("hello from the kv plugin"));
  const reporter = await reporterClient.dispense("reporter");
  const text = await reporter.report(
    { cacheKey: "motd", table: "users", plugin: process.argv[2] ?? "kv", pluginKey: "greeting" },
    hostApi,
  );
  console.log(text);
} catch (err) {
  console.log(`Error: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await reporterClient.kill();
  await kvClient.kill();
  rmSync(work, { recursive: true, force: true });
}
