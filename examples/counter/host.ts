/**
 * The TypeScript twin of go-plugin's examples/bidirectional host. Usage:
 *   node examples/counter/host.ts put KEY N     (adds N through the host's AddHelper)
 *   node examples/counter/host.ts get KEY
 * COUNTER_PLUGIN is the plugin's shell command (default: the TypeScript plugin).
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
import { counterPlugin, handshake } from "./shared.ts";

const pluginCmd =
  process.env.COUNTER_PLUGIN ??
  `${process.execPath} ${fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "plugin.ts" : "plugin.js", import.meta.url))}`;
const dataDir = process.env.KV_DIR || join(tmpdir(), "podplug-examples");
mkdirSync(dataDir, { recursive: true });
const client = new Client({
  handshake,
  plugins: { counter: counterPlugin() },
  cmd: { command: "sh", args: ["-c", pluginCmd], cwd: dataDir, env: { KV_DIR: dataDir } },
  name: "counter",
  logger: pino({ level: process.env.LOG_LEVEL ?? "warn" }, pino.destination(2)),
});
// Ctrl-C (or SIGTERM to a PID 1) stops the plugin too, at once.
exitOnSignals(() => client.kill());

try {
  const counter = await client.dispense("counter");
  const [op, key, value] = process.argv.slice(2);
  if (op === "get" && key) console.log((await counter.get(key)).toString());
  else if (op === "put" && key && value !== undefined)
    await counter.put(key, BigInt(value), { sum: async (a, b) => a + b });
  else throw new Error(`please only use 'get KEY' or 'put KEY N', given: ${JSON.stringify(process.argv.slice(2))}`);
} catch (err) {
  console.log(`Error: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.kill();
}
