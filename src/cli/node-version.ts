/**
 * Is this Node one podplug runs on? package.json's `engines.node` is the one
 * statement of it (`^22.19.0 || >=24.0.0`): TypeScript plugins run with Node's
 * built-in type stripping, which older Nodes lack (they crash-loop with
 * ERR_UNKNOWN_FILE_EXTENSION). The CLI checks before doing anything.
 */

type Version = [number, number, number];

function parse(v: string): Version | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** One comparator of a range: `^X.Y.Z`, `>=X.Y.Z` or `X.Y.Z`; undefined for anything else. */
function satisfiesOne(v: Version, part: string): boolean | undefined {
  const m = /^(\^|>=)?\s*(\S+)$/.exec(part.trim());
  const base = m ? parse(m[2]!) : undefined;
  if (!m || !base) return undefined;
  if (m[1] === ">=") return compare(v, base) >= 0;
  if (m[1] === "^") return v[0] === base[0] && compare(v, base) >= 0;
  return compare(v, base) === 0;
}

/**
 * True when `version` (e.g. `v24.1.0`) is in `range`, a `||` list of
 * `^X.Y.Z`, `>=X.Y.Z` or exact versions. A range or version in any other
 * syntax throws: the check must not pass by not understanding.
 */
export function nodeSatisfies(version: string, range: string): boolean {
  const v = parse(version);
  if (!v) throw new RangeError(`not a Node version: ${JSON.stringify(version)}`);
  const results = range.split("||").map((p) => satisfiesOne(v, p));
  if (results.some((r) => r === undefined)) throw new RangeError(`unsupported engines range: ${JSON.stringify(range)}`);
  return results.includes(true);
}

/** The message for a Node podplug does not run on. */
export function nodeAdvice(version: string, range: string): string {
  return (
    `this is Node ${version} (${process.execPath}); podplug needs Node ${range}: it runs TypeScript plugins with ` +
    "Node's built-in type stripping, which this Node lacks (its plugins would crash-loop with ERR_UNKNOWN_FILE_EXTENSION). " +
    "Install Node 24 LTS (https://nodejs.org/en/download, or `nvm install 24`), or run the Node this project installs: " +
    "`npm ci && export PATH=$PWD/node_modules/.bin:$PATH`."
  );
}
