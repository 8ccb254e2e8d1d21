#!/usr/bin/env bash
# Runs jazzer.js (the coverage-guided fuzzer, @jazzer.js/core) on one target,
# a .ts file exporting fuzz(data: Buffer), on the project's Node under the C
# library it needs (tools/jazzer-node.sh).
#   tools/jazzer.sh <target.ts> [corpus dir...] [jazzer options] [-- libFuzzer options]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$(realpath "$1")"
shift
PODPLUG_FUZZ_TARGET="$target" exec "$root/tools/jazzer-node.sh" \
  "$root/node_modules/@jazzer.js/core/dist/cli.js" "$root/test/fuzz/jazzer/target.mjs" "$@"
