/**
 * The demo host: attaches to the kv and counter plugins that podplug runs
 * beside it (PODPLUG_SOCKET_ROOT), and calls both every second. Kill a
 * plugin and watch the calls fail fast for a moment, then carry on against
 * the restarted process. Its own metrics are on DEMO_METRICS_PORT.
 */
import { createServer } from "node:http";
import { pino } from "pino";
import { register } from "prom-client";
import { Client, sidecarAttach } from "../../src/host/index.ts";
import { counterPlugin, handshake } from "../counter/shared.ts";
import { kvPlugin } from "../kv/shared.ts";

const log = pino({ name: "demo-host" });
const common = { handshake, logger: log, outage: { mode: "fail-fast" as const } };
const kvClient = new Client({ ...common, name: "kv", plugins: { kv: kvPlugin() }, attach: sidecarAttach("kv") });
const counterClient = new Client({
  ...common,
  name: "counter",
  plugins: { counter: counterPlugin() },
  attach: sidecarAttach("counter"),
});

const port = Number(process.env.DEMO_METRICS_PORT ?? 9465);
const server = createServer((req, res) => {
  if (req.url !== "/metrics") return void res.writeHead(404).end();
  void register.metrics().then((text) => res.writeHead(200, { "content-type": register.contentType }).end(text));
}).listen(port, "127.0.0.1");

const kv = await kvClient.dispense("kv");
const counter = await counterClient.dispense("counter");
const add = { sum: async (a: bigint, b: bigint) => a + b };
let tick = 0;
const timer = setInterval(() => {
  tick++;
  void (async () => {
    const results: Record<string, string> = {};
    try {
      await kv.put("last-tick", Buffer.from(String(tick)));
      results.kv = (await kv.get("last-tick")).toString().split("\n")[0]!;
    } catch (err) {
      results.kv = `error: ${(err as Error).message}`;
    }
    try {
      await counter.put("ticks", 1n, add);
      results.counter = String(await counter.get("ticks"));
    } catch (err) {
      results.counter = `error: ${(err as Error).message}`;
    }
    log.info({ tick, ...results }, "called both plugins");
  })();
}, 1000);

const shutdown = async (): Promise<void> => {
  clearInterval(timer);
  server.close();
  await Promise.all([kvClient.kill(), counterClient.kill()]);
  process.exit(0);
};
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());
