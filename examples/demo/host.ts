/**
 * The demo host: attaches to the kv and counter plugins that podplug runs
 * beside it (PODPLUG_SOCKET_ROOT), and calls both every second. Kill a
 * plugin and watch the calls fail fast for a moment, then carry on against
 * the restarted process. Its own metrics are on DEMO_METRICS_PORT (default
 * 9465, 0 = any free port) on DEMO_METRICS_HOST (default 127.0.0.1; in a pod,
 * the pod's IP or 0.0.0.0 lets a Prometheus on the pod network scrape it). It is PID 1 in its container:
 * exitOnSignals() makes SIGTERM end it at once, even while it is still
 * waiting for a plugin. A plugin it cannot attach to (a pod that was not
 * injected, a socket it may not open) ends it with the coded error logged.
 */
import { createServer } from "node:http";
import { pino } from "pino";
import { register } from "prom-client";
import { Client, exitOnSignals, isPodplugError, sidecarAttach } from "../../src/host/index.ts";
import { counterPlugin, handshake } from "../counter/shared.ts";
import { kvPlugin } from "../kv/shared.ts";

const log = pino({ name: "demo-host" });

/** Logs a coded error (the pod's log and termination message show it) and exits 1. */
function fatal(err: unknown, what: string): never {
  const code = isPodplugError(err) ? err.code : undefined;
  log.error({ code, err: (err as Error).message }, `${what}: ${(err as Error).message}`);
  process.exit(1);
}

const raw = process.env.DEMO_METRICS_PORT ?? "9465";
const port = Number(raw);
if (!/^\d+$/.test(raw) || port > 65535) {
  log.error({ code: "DEMO_CONFIG_INVALID", port: raw }, `DEMO_METRICS_PORT=${raw} is not a port: give 0-65535`);
  process.exit(1);
}
const host = process.env.DEMO_METRICS_HOST || "127.0.0.1";
const server = createServer((req, res) => {
  if (req.url !== "/metrics") return void res.writeHead(404).end();
  void register.metrics().then((text) => res.writeHead(200, { "content-type": register.contentType }).end(text));
});
// First thing, before awaiting anything: as PID 1 a Node process without a handler ignores SIGTERM.
const clients: { kill(): Promise<void> }[] = [];
let timer: NodeJS.Timeout | undefined;
let stopping = false;
exitOnSignals(
  async () => {
    stopping = true;
    clearInterval(timer);
    server.close();
    await Promise.all(clients.map((c) => c.kill()));
  },
  { logger: log },
);

try {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
} catch (err) {
  const busy = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
  log.error(
    { code: busy ? "DEMO_METRICS_PORT_IN_USE" : "DEMO_METRICS_LISTEN", port, err: (err as Error).message },
    busy
      ? `the demo host's metrics port ${host}:${port} is in use (another demo running?): set DEMO_METRICS_PORT in examples/demo/host.yaml to a free port, or 0 for any`
      : `the demo host cannot serve metrics on ${host}:${port}: ${(err as Error).message}`,
  );
  process.exit(1);
}
const address = server.address();
log.info({ url: `http://${host}:${typeof address === "object" && address ? address.port : port}/metrics` }, "metrics");

const common = { handshake, logger: log, outage: { mode: "fail-fast" as const } };
// An unmodified Go kv plugin writes no handshake file, so the host must be told the version it
// serves (it never guesses): KV_PROTOCOL_VERSION=1 for go-plugin's examples/grpc.
const kvVersion = process.env.KV_PROTOCOL_VERSION;
let kvClient: Client<{ kv: ReturnType<typeof kvPlugin> }>;
let counterClient: Client<{ counter: ReturnType<typeof counterPlugin> }>;
try {
  kvClient = new Client({
    ...common,
    name: "kv",
    plugins: { kv: kvPlugin() },
    attach: { ...sidecarAttach("kv"), ...(kvVersion ? { protocolVersion: Number(kvVersion) } : {}) },
  });
  counterClient = new Client({
    ...common,
    name: "counter",
    plugins: { counter: counterPlugin() },
    attach: sidecarAttach("counter"),
  });
} catch (err) {
  fatal(err, "the demo host cannot attach to its plugins");
}
clients.push(kvClient, counterClient);

const [kv, counter] = await Promise.all([kvClient.dispense("kv"), counterClient.dispense("counter")]).catch(
  // Stopping on a signal kills clients still attaching: no error, the signal handler exits.
  (err: unknown) =>
    stopping ? new Promise<never>(() => {}) : fatal(err, "the demo host cannot attach to its plugins"),
);
const add = { sum: async (a: bigint, b: bigint) => a + b };
let tick = 0;
timer = setInterval(() => {
  // This round's own number: a round whose calls outlive the interval must not report a later one's.
  const n = ++tick;
  void (async () => {
    const results: Record<string, string> = {};
    const failed: string[] = [];
    try {
      await kv.put("last-tick", Buffer.from(String(n)));
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
    if (failed.length === 0) log.info({ tick: n, ...results }, "called both plugins");
    else log.warn({ tick: n, failed, ...results }, `call to ${failed.join(" and ")} failed`);
  })();
}, 1000);
