/**
 * The TypeScript twin of go-plugin's examples/grpc host. Usage:
 *   node examples/kv/host.ts put KEY VALUE
 *   node examples/kv/host.ts get KEY
 * KV_PLUGIN is the plugin's shell command (default: the TypeScript plugin);
 * point it at go-plugin's Go kv plugin and nothing else changes.
 * The plugin keeps its data in KV_DIR (default: $TMPDIR/podplug-examples),
 * never in the folder you run this from; the command runs in that folder too,
 * so that go-plugin's Go plugin (which writes to its working folder) does as well.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Client, exitOnSignals } from "../../src/host/index.ts";
import { handshake, kvPlugin } from "./shared.ts";

const pluginCmd =
  process.env.KV_PLUGIN ??
  `${process.execPath} ${fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "plugin.ts" : "plugin.js", import.meta.url))}`;
const dataDir = process.env.KV_DIR || join(tmpdir(), "podplug-examples");
mkdirSync(dataDir, { recursive: true });
const client = new Client({
  handshake,
  plugins: { kv: kvPlugin() },
  cmd: { command: "sh", args: ["-c", pluginCmd], cwd: dataDir, env: { KV_DIR: dataDir } },
  name: "kv",
  logger: pino({ level: process.env.LOG_LEVEL ?? "warn" }, pino.destination(2)),
});
// Ctrl-C (or SIGTERM to a PID 1) stops the plugin too, at once.
exitOnSignals(() => client.kill());

try {
  const kv = await client.dispense("kv");
  const [op, key, value] = process.argv.slice(2);
  if (op === "get" && key) console.log((await kv.get(key)).toString());
  else if (op === "put" && key && value !== undefined) await kv.put(key, Buffer.from(value));
  else throw new Error(`please only use 'get KEY' or 'put KEY VALUE', given: ${JSON.stringify(process.argv.slice(2))}`);
} catch (err) {
  console.log(`Error: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.kill();
}
