/**
 * A byte budget shared by every connection of one server. Each connection is
 * bounded on its own (maxPausedBytes, maxSendQueueBytes), and the server keeps
 * at most maxConnections of them; without a shared budget a peer that opens
 * them all and fills each could still make the server hold their product
 * (100 × 48 MiB). Connections charge and release the budget exactly as they
 * move their own counters, so the work per frame stays O(1).
 */

/** What all connections of one server may hold together (defaults in {@link DEFAULT_SERVER_BUDGET}). */
export interface ServerBudget {
  /** Bytes held by paused streams (received, not yet read by the application), over all connections. */
  maxPausedBytes: number;
  /** Bytes waiting to go to clients (framed but unwritten, or waiting for their windows), over all connections. */
  maxSendQueueBytes: number;
}

/**
 * The defaults: four connections at their paused bound, two at their send
 * bound (docs/transport.md, "Limits", gives the reasoning and the figures).
 */
export const DEFAULT_SERVER_BUDGET: Readonly<ServerBudget> = Object.freeze({
  maxPausedBytes: 64 << 20,
  maxSendQueueBytes: 64 << 20,
});

/**
 * What a connection may hold whatever the others hold: below it, the shared
 * budget never cuts that connection, so a well-behaved peer (small calls it
 * reads at once) keeps getting answers while hostile connections have filled
 * the budget. The server's worst case is the budget plus this per connection.
 */
export const BUDGET_RESERVE = 256 * 1024;

/** One budget (paused bytes, or bytes to send): a count shared by the connections of a server. */
export class ByteBudget {
  readonly limit: number;
  private held = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes the connections hold now (read-only; a test's view that every release happened). */
  get used(): number {
    return this.held;
  }

  /** Adds `n` bytes (negative: gives them back). */
  charge(n: number): void {
    this.held += n;
  }

  /** True when the connections hold more than the limit. */
  get over(): boolean {
    return this.held > this.limit;
  }
}

/** The two budgets of one server. */
export interface ServerBudgets {
  paused: ByteBudget;
  sendQueue: ByteBudget;
}

/** The budgets of a new server: the defaults with `over` applied. */
export function serverBudgets(over: Partial<ServerBudget> | undefined): ServerBudgets {
  return {
    paused: new ByteBudget(over?.maxPausedBytes ?? DEFAULT_SERVER_BUDGET.maxPausedBytes),
    sendQueue: new ByteBudget(over?.maxSendQueueBytes ?? DEFAULT_SERVER_BUDGET.maxSendQueueBytes),
  };
}
