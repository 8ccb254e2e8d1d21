#!/usr/bin/env bash
# Builds Jaeger's all-in-one (v2, on the OpenTelemetry Collector), the trace
# backend of test/tracing, into the cache, keyed by version, from the Go
# module proxy: `go get -tool` of github.com/jaegertracing/jaeger/cmd/jaeger in
# a throwaway module, then a static build. Skips when present. Cold: ≈5 min
# and ≈1 GB of modules on 2 cores (the Go module cache keeps them).
#   tools/build-jaeger.sh [--print-path]
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
. "$(dirname "$0")/../mk/load-versions.sh"
VERSION="$PODPLUG_JAEGER_VERSION"
OUT="$CACHE/jaeger/$VERSION"

if [ "${1:-}" = "--print-path" ]; then echo "$OUT/jaeger"; exit 0; fi
if [ -x "$OUT/jaeger" ]; then echo "build-jaeger.sh: jaeger $VERSION already in $OUT"; exit 0; fi
command -v go >/dev/null || { echo "build-jaeger.sh: 'go' not on PATH; install Go" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export CGO_ENABLED=0
start=$(date +%s)
go mod init podplug.local/jaegerbuild >/dev/null 2>&1
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$VERSION" >/dev/null 2>&1 ||
  { echo "build-jaeger.sh: go get github.com/jaegertracing/jaeger/cmd/jaeger@$VERSION failed (is the Go proxy reachable?)" >&2; exit 1; }
mkdir -p "$OUT.tmp"
go build -trimpath -o "$OUT.tmp/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "build-jaeger.sh: jaeger $VERSION in $OUT ($(( $(date +%s) - start )) s)"
