/** The podplug-launcher binary for tests and benchmarks: built by tools/build-launcher.sh into $PODPLUG_CACHE. */
import { cachedBuild } from "../helpers.ts";

let path: string | undefined;

/** Path of the built launcher, podplug-probe beside it (builds both on first use). */
export function launcherPath(): string {
  path ??= cachedBuild("build-launcher.sh");
  return path;
}
