#!/usr/bin/env bash
# Runs jazzer.js (the coverage-guided fuzzer, @jazzer.js/core) on the project's
# Node under the C library tools/fetch-fuzz-libc.sh unpacked: that library's own
# dynamic loader starts node with --library-path, so only this process (never the
# system, nor node's children) uses glibc 2.41. test/fuzz/jazzer/strip-types.mjs is imported
# first so that jazzer's ESM loader hook gets our TypeScript sources as JavaScript.
#   tools/jazzer.sh <target.ts> [jazzer options] [-- libFuzzer options]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$("$root/tools/fetch-fuzz-libc.sh" --print-path)"
if [ ! -x "$lib/ld-linux-x86-64.so.2" ]; then
  echo "FUZZ_LIBC_MISSING: no glibc for jazzer.js in $lib: run 'make fuzz-deps' (tools/fetch-fuzz-libc.sh)" >&2
  exit 97
fi
target="$(realpath "$1")"; shift
PODPLUG_FUZZ_TARGET="$target" exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$root/node_modules/node/bin/node" \
  --import "$root/test/fuzz/jazzer/strip-types.mjs" "$root/node_modules/@jazzer.js/core/dist/cli.js" "$root/test/fuzz/jazzer/target.mjs" "$@"
