/**
 * The demo host: attaches to the kv and counter plugins that podplug runs
 * beside it (PODPLUG_SOCKET_ROOT), and calls both every second. Kill a
 * plugin and watch the calls fail fast for a moment, then carry on against
 * the restarted process. Its own metrics are on DEMO_METRICS_PORT (default
 * 9465, 0 = any free port) on 127.0.0.1.
 */
import { createServer } from "node:http";
import { pino } from "pino";
import { register } from "prom-client";
import { Client, sidecarAttach } from "../../src/host/index.ts";
import { counterPlugin, handshake } from "../counter/shared.ts";
import { kvPlugin } from "../kv/shared.ts";

const log = pino({ name: "demo-host" });

const raw = process.env.DEMO_METRICS_PORT ?? "9465";
const port = Number(raw);
if (!/^\d+$/.test(raw) || port > 65535) {
  log.error({ code: "DEMO_CONFIG_INVALID", port: raw }, `DEMO_METRICS_PORT=${raw} is not a port: give 0-65535`);
  process.exit(1);
}
const server = createServer((req, res) => {
  if (req.url !== "/metrics") return void res.writeHead(404).end();
  void register.metrics().then((text) => res.writeHead(200, { "content-type": register.contentType }).end(text));
});
try {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
} catch (err) {
  const busy = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
  log.error(
    { code: busy ? "DEMO_METRICS_PORT_IN_USE" : "DEMO_METRICS_LISTEN", port, err: (err as Error).message },
    busy
      ? `the demo host's metrics port 127.0.0.1:${port} is in use (another demo running?): set DEMO_METRICS_PORT in examples/demo/host.yaml to a free port, or 0 for any`
      : `the demo host cannot serve metrics on 127.0.0.1:${port}: ${(err as Error).message}`,
  );
  process.exit(1);
}
const address = server.address();
log.info(
  { url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}/metrics` },
  "metrics",
);

const common = { handshake, logger: log, outage: { mode: "fail-fast" as const } };
// An unmodified Go kv plugin writes no handshake file, so the host must be told the version it
// serves (it never guesses): KV_PROTOCOL_VERSION=1 for go-plugin's examples/grpc.
const kvVersion = process.env.KV_PROTOCOL_VERSION;
const kvClient = new Client({
  ...common,
  name: "kv",
  plugins: { kv: kvPlugin() },
  attach: { ...sidecarAttach("kv"), ...(kvVersion ? { protocolVersion: Number(kvVersion) } : {}) },
});
const counterClient = new Client({
  ...common,
  name: "counter",
  plugins: { counter: counterPlugin() },
  attach: sidecarAttach("counter"),
});

const kv = await kvClient.dispense("kv");
const counter = await counterClient.dispense("counter");
const add = { sum: async (a: bigint, b: bigint) => a + b };
let tick = 0;
const timer = setInterval(() => {
  tick++;
  void (async () => {
    const results: Record<string, string> = {};
    const failed: string[] = [];
    try {
      await kv.put("last-tick", Buffer.from(String(tick)));
      results.kv = (await kv.get("last-tick")).toString().split("\n")[0]!;
    } catch (err) {
      results.kv = `error: ${(err as Error).message}`;
      failed.push("kv");
    }
    try {
      await counter.put("ticks", 1n, add);
      results.counter = String(await counter.get("ticks"));
    } catch (err) {
      results.counter = `error: ${(err as Error).message}`;
      failed.push("counter");
    }
    if (failed.length === 0) log.info({ tick, ...results }, "called both plugins");
    else log.warn({ tick, failed, ...results }, `call to ${failed.join(" and ")} failed`);
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
