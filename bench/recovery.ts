/**
 * Recovery time: SIGKILL a TypeScript plugin under a host's long-lived
 * client, measure until the first successful call on the same dispensed
 * client. Back-off resets after every kill here (resetAfterMs 0), so each
 * sample is one isolated crash: 100 ms back-off + process start + handshake.
 */
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { handshake, kvPlugin } from "../examples/kv/shared.ts";
import { Client } from "../src/host/index.ts";

export interface RecoveryFigures {
  kills: number;
  medianMs: number;
  p99Ms: number;
  /** Time for a fresh start of the same plugin (spawn → first call), for comparison. */
  coldStartMs: number;
}

export async function recoveryFigures(kills = Number(process.env.BENCH_KILLS ?? 20)): Promise<RecoveryFigures> {
  const plugin = join(import.meta.dirname, "..", "test", "fixtures", "test-plugin.ts");
  const t0 = performance.now();
  const client = new Client({
    handshake,
    plugins: { kv: kvPlugin() },
    cmd: { command: process.execPath, args: [plugin] },
    logger: pino({ level: "silent" }),
    metricsRegistry: new Registry(),
    backoff: { initialMs: 100, resetAfterMs: 0 },
  });
  const samples: number[] = [];
  try {
    const kv = await client.dispense("kv");
    await kv.get("pid");
    const coldStartMs = performance.now() - t0;
    for (let i = 0; i < kills; i++) {
      const pid = Number((await kv.get("pid")).toString());
      const start = performance.now();
      process.kill(pid, "SIGKILL");
      for (;;) {
        try {
          const now = Number((await kv.get("pid")).toString());
          if (now !== pid) break;
        } catch {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    return {
      kills,
      medianMs: samples[Math.floor(samples.length / 2)]!,
      p99Ms: samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))]!,
      coldStartMs,
    };
  } finally {
    await client.kill();
  }
}
