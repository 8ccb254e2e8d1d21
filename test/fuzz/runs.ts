/**
 * How the fuzz targets run their properties: PODPLUG_FUZZ_RUNS inputs (300 in
 * `make test`, 1,000,000 in `make fuzz-properties`), in batches of 10,000 with the event
 * loop let run between them. One synchronous fc.assert of a million inputs
 * never lets the timers and nextTick callbacks of the connections it made run,
 * so their garbage piles up until V8 runs out of heap (it did, at 4 GB).
 */
import fc from "fast-check";

/** Inputs per target. */
export const RUNS = Number(process.env.PODPLUG_FUZZ_RUNS ?? 300);
/** PODPLUG_FUZZ_SEED replays a failure: the seed fast-check printed for the failing batch. */
const SEED = process.env.PODPLUG_FUZZ_SEED === undefined ? undefined : Number(process.env.PODPLUG_FUZZ_SEED);
const BATCH = 10_000;

/** Checks `property` on `numRuns` inputs; a failure names its batch's seed (fast-check's message). */
export async function check<Ts>(property: fc.IProperty<Ts>, numRuns = RUNS): Promise<void> {
  const base = SEED ?? Math.floor(Math.random() * 0x7fffffff);
  for (let i = 0, done = 0; done < numRuns; i++, done += BATCH) {
    fc.assert(property, { numRuns: Math.min(BATCH, numRuns - done), seed: (base + i) | 0 });
    await new Promise((r) => setImmediate(r));
  }
}
