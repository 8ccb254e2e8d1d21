/** The injection function, its types and the in-pod conventions. */
export { inject } from './inject.ts';
export type { InjectOptions } from './inject.ts';
export { InjectError } from './errors.ts';
export type { InjectErrorCode } from './errors.ts';
export * from './conventions.ts';
export * from './types.ts';
export { selectorMatches } from './selector.ts';
