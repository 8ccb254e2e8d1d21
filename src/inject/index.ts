/** The injection function, its types and the in-pod conventions. */

export * from "./conventions.ts";
export type { InjectErrorCode } from "./errors.ts";
export { InjectError } from "./errors.ts";
export type { InjectOptions } from "./inject.ts";
export { inject } from "./inject.ts";
export { pluginSelects, selectorMatches } from "./selector.ts";
export * from "./types.ts";
