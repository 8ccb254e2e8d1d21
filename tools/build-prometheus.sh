#!/usr/bin/env bash
# Builds Prometheus's server from the Go module proxy into the cache, keyed by
# version, for test/observability/in-cluster.test.ts: Debian's package is
# built without Kubernetes service discovery (`field kubernetes_sd_configs not
# found`), which that test needs to find pods the way a user's Prometheus
# does. `go get -tool` of github.com/prometheus/prometheus/cmd/prometheus in a
# throwaway module (module v0.42.0 is Prometheus 2.42.0), then a static build
# without the web UI's assets (the HTTP API is all the tests use). Skips when
# present. Cold: ≈3 min of module downloads, then the build.
#   tools/build-prometheus.sh [--print-path]
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
. "$(dirname "$0")/../mk/load-versions.sh"
VERSION="$PODPLUG_PROMETHEUS_VERSION"
OUT="$CACHE/prometheus/$VERSION"

if [ "${1:-}" = "--print-path" ]; then echo "$OUT/prometheus"; exit 0; fi
if [ -x "$OUT/prometheus" ]; then echo "build-prometheus.sh: prometheus $VERSION already in $OUT"; exit 0; fi
command -v go >/dev/null || { echo "build-prometheus.sh: 'go' not on PATH; install Go" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export CGO_ENABLED=0
start=$(date +%s)
go mod init podplug.local/prometheusbuild >/dev/null 2>&1
go get -tool "github.com/prometheus/prometheus/cmd/prometheus@$VERSION" >/dev/null 2>&1 ||
  { echo "build-prometheus.sh: go get github.com/prometheus/prometheus/cmd/prometheus@$VERSION failed (is the Go proxy reachable?)" >&2; exit 1; }
# Prometheus's own go.mod replaces klog with its go-kit shim; a dependency's replaces do not
# apply to the module that requires it, so copy them here.
gomod=$(go mod download -json "github.com/prometheus/prometheus@$VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
replaces=$(awk '
  /^replace \($/ { inblock = 1; next }
  inblock && /^\)/ { inblock = 0; next }
  inblock || /^replace / {
    sub(/^replace /, ""); n = split($0, w, " ")
    if (w[2] == "=>" && n == 4) print "-replace=" w[1] "=" w[3] "@" w[4]
    else if (w[3] == "=>" && n == 5) print "-replace=" w[1] "@" w[2] "=" w[4] "@" w[5]
  }' "$gomod")
# shellcheck disable=SC2086 # one flag per line
[ -z "$replaces" ] || go mod edit $replaces
go mod tidy >/dev/null 2>&1
mkdir -p "$OUT.tmp"
go build -trimpath -o "$OUT.tmp/prometheus" github.com/prometheus/prometheus/cmd/prometheus
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "build-prometheus.sh: prometheus $VERSION in $OUT ($(( $(date +%s) - start )) s)"
