/**
 * The standby instance of a plugin (`ClientConfig.standby`, a Plugin's
 * `spec.standby`): a second instance kept started, handshaken and set up
 * (onConnect hooks run) beside the active one, so that when the active one
 * dies the client re-points its channel at once instead of waiting for a
 * restart. This file keeps the spare: starts it, watches it, replaces it when
 * it dies or is taken. The client decides when to take it
 * (docs/host-authors.md, "Standby").
 */
import type { Logger as PinoLogger } from "pino";
import { isPodplugError } from "../errors.ts";
import { Backoff, type BackoffOptions } from "../process/backoff.ts";
import { terminate } from "../process/exit.ts";
import type { Connection } from "./connection.ts";
import type { StartedProcess } from "./process.ts";

/**
 * Where an instance runs: in cmd mode both slots are processes the client
 * starts; in attach mode slot 0 is the plugin's folder `<root>/<name>`, slot 1
 * the standby sidecar's `<root>/<name>-standby`.
 */
export type Slot = 0 | 1;

/** One connected, set-up instance of the plugin. */
export interface Instance {
  conn: Connection;
  /** The process (cmd mode). */
  proc: StartedProcess | undefined;
  slot: Slot;
}

/** What the spare needs from its client. */
export interface StandbyHooks {
  /** Starts (or attaches to) an instance in `slot`, handshakes, runs the onConnect hooks. */
  launch(slot: Slot): Promise<Instance>;
  /** Resolves with a reason when `inst` fails, or when `stop` aborts. */
  watch(inst: Instance, stop: AbortSignal): Promise<string>;
}

/** The other slot. */
export function otherSlot(s: Slot): Slot {
  return s === 0 ? 1 : 0;
}

/** Closes an instance's connection and makes sure its process is gone. */
export async function discard(inst: Instance): Promise<void> {
  inst.conn.close();
  if (inst.proc) await terminate(inst.proc.child, 0, "SIGKILL");
}

/** Keeps one spare instance ready in its slot until the client is killed. */
export class Standby {
  private readonly hooks: StandbyHooks;
  private readonly log: PinoLogger;
  private readonly signal: AbortSignal;
  private readonly backoff: Backoff;
  private slot: Slot;
  private spare: Instance | undefined;
  /** Ends the watch of the spare now ready (it was taken). */
  private stopWatch: AbortController | undefined;
  private running: Promise<void> | undefined;
  private launches = 0;

  constructor(hooks: StandbyHooks, log: PinoLogger, signal: AbortSignal, backoff?: BackoffOptions) {
    this.hooks = hooks;
    this.log = log.child({ instance: "standby" });
    this.signal = signal;
    this.backoff = new Backoff({ firstMs: 0, ...backoff });
    this.slot = 1;
  }

  /** Starts keeping a spare in `slot` (the one the active instance does not use). */
  start(slot: Slot): void {
    this.slot = slot;
    this.running ??= this.run();
  }

  /** True while a spare is connected and set up. */
  get ready(): boolean {
    return this.spare !== undefined;
  }

  /** The ready spare's process id (cmd mode). */
  get pid(): number | undefined {
    return this.spare?.proc?.child.pid;
  }

  /** How many spares were started and set up so far (the first one included). */
  get started(): number {
    return this.launches;
  }

  /**
   * Hands the ready spare over (it becomes the active instance) and starts a
   * new spare in `freed`, the slot of the instance that failed. Undefined when
   * no spare is ready: the client takes its normal restart path.
   */
  take(freed: Slot): Instance | undefined {
    const s = this.spare;
    if (!s) return undefined;
    this.spare = undefined;
    this.slot = freed;
    this.stopWatch?.abort();
    return s;
  }

  private async run(): Promise<void> {
    let uptime = 0;
    for (;;) {
      if (this.signal.aborted) return;
      let inst: Instance;
      try {
        inst = await this.hooks.launch(this.slot);
      } catch (err) {
        if (this.signal.aborted) return;
        const code = isPodplugError(err) ? err.code : undefined;
        const step = this.backoff.next(uptime);
        uptime = 0;
        this.log.warn(
          { err: (err as Error).message, ...(code ? { code } : {}), delayMs: step.delayMs },
          "standby instance failed to start; retrying",
        );
        await sleep(step.delayMs, this.signal);
        continue;
      }
      if (this.signal.aborted) {
        await discard(inst);
        return;
      }
      this.launches++;
      this.spare = inst;
      this.stopWatch = new AbortController();
      this.log.debug({ slot: inst.slot, pid: inst.proc?.child.pid }, "standby instance ready");
      const since = performance.now();
      const reason = await this.hooks.watch(inst, this.stopWatch.signal);
      if (this.signal.aborted) return;
      if (this.spare !== inst) continue; // taken: start the next spare at once
      this.spare = undefined;
      uptime = performance.now() - since;
      this.log.warn({ reason }, "standby instance failed; replacing it");
      await discard(inst);
      const step = this.backoff.next(uptime);
      uptime = 0;
      await sleep(step.delayMs, this.signal);
    }
  }

  /** Stops keeping a spare; the one ready is asked to shut down (`waitMs`), then killed. */
  async close(waitMs: number): Promise<void> {
    await this.running;
    const s = this.spare;
    this.spare = undefined;
    if (!s) return;
    if (s.proc) await s.conn.shutdown(waitMs);
    s.conn.close();
    if (s.proc) await terminate(s.proc.child, waitMs, null);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      r();
    };
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener("abort", done, { once: true });
  });
}
