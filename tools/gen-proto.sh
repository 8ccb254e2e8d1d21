#!/usr/bin/env bash
# Generates TypeScript from proto/ into $1 (default src/gen) with buf + ts-proto.
# Each root is compiled on its own: go-plugin's two example interfaces both use
# the package name `proto` and would collide in one compilation.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src/gen}
bin=node_modules/.bin
opts='["outputServices=grpc-js","esModuleInterop=true","importSuffix=.ts","forceLong=bigint","enumsAsLiterals=true","env=node","useOptionals=none","outputJsonMethods=false","outputPartialMethods=false"]'
template() { printf '{"version":"v2","plugins":[{"local":"%s/protoc-gen-ts_proto","out":"%s","opt":%s}]}' "$bin" "$1" "$opts"; }
rm -rf "$out"
"$bin/buf" generate proto --exclude-path proto/examples --template "$(template "$out")"
for ex in kv counter hostapi streaming; do
  "$bin/buf" generate "proto/examples/$ex" --template "$(template "$out/examples/$ex")"
done
