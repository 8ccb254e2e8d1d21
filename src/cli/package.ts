/**
 * This installation's package.json (found upwards from this file, so the same
 * code works from src/ and from dist/src/): its version for `--version`, its
 * `engines.node` for the Node check, its folder for crds/.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The fields of package.json that podplug reads about itself. */
export interface PackageInfo {
  root: string;
  version: string;
  engines: { node: string };
}

let cached: PackageInfo | undefined;

/** podplug's own package.json. */
export function podplugPackage(): PackageInfo {
  if (cached) return cached;
  let dir = import.meta.dirname;
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as {
      name?: string;
      version?: string;
      engines?: { node?: string };
    };
    if (pkg.name !== "podplug") continue;
    cached = { root: dir, version: pkg.version ?? "0.0.0", engines: { node: pkg.engines?.node ?? "*" } };
    return cached;
  }
  throw new Error(`podplug's package.json not found above ${import.meta.dirname}; the installation is incomplete`);
}
