/**
 * The process layer shared by the host SDK, the local runtime and the
 * operator: guarded spawning, line splitting, stopping, and the one back-off.
 * @packageDocumentation
 */
export { Backoff, type BackoffOptions, type BackoffSources, type BackoffStep } from "./backoff.ts";
export {
  describeExit,
  exitOf,
  hasExited,
  type ProcessExit,
  type Termination,
  terminate,
} from "./exit.ts";
export { LineSplitter, MAX_LINE, readLines } from "./lines.ts";
export { logOutputLine, type OutputState } from "./output.ts";
export { PDEATHSIG_AVAILABLE, type SpawnOptions, spawnGuarded } from "./spawn.ts";
