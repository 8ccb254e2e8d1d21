#!/usr/bin/env bash
# The project's Node on the C library of tools/fetch-fuzz-libc.sh, through that
# library's own dynamic loader (--library-path reaches this process only, never
# the system nor node's children), with test/fuzz/jazzer/preload.mjs imported
# first. tools/jazzer.sh runs jazzer.js with it, and jazzer's own subprocesses
# (libFuzzer's -merge=1 and -fork) come back through it: preload.mjs names this
# script as node's argv[0].
#   tools/jazzer-node.sh <script.js> [args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$("$root/tools/fetch-fuzz-libc.sh" --print-path)"
if [ ! -x "$lib/ld-linux-x86-64.so.2" ]; then
  echo "FUZZ_LIBC_MISSING: no glibc for jazzer.js in $lib: run 'make fuzz-deps' (tools/fetch-fuzz-libc.sh)" >&2
  exit 97
fi
PODPLUG_JAZZER_NODE="$root/tools/jazzer-node.sh" exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" \
  "$root/node_modules/node/bin/node" --disable-warning=ExperimentalWarning \
  --import "$root/test/fuzz/jazzer/preload.mjs" "$@"
