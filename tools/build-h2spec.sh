#!/usr/bin/env bash
# Builds h2spec (the HTTP/2 conformance suite, github.com/summerwind/h2spec)
# into the cache, keyed by version, from the Go module proxy. Skips when present.
#   tools/build-h2spec.sh [--print-path]
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
VERSION="$PODPLUG_H2SPEC_VERSION"
OUT="$CACHE/h2spec/$VERSION"

if [ "${1:-}" = "--print-path" ]; then echo "$OUT/h2spec"; exit 0; fi
if [ -x "$OUT/h2spec" ]; then exit 0; fi
command -v go >/dev/null || { echo "build-h2spec.sh: 'go' not on PATH; install Go" >&2; exit 1; }

mkdir -p "$OUT"
tmp="$(mktemp -d "$OUT.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# h2spec's go.mod names no /v2 path, so the proxy serves its v2 tags as +incompatible.
GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
  "github.com/summerwind/h2spec/cmd/h2spec@$VERSION+incompatible"
mv "$tmp/h2spec" "$OUT/h2spec"
echo "build-h2spec.sh: built h2spec $VERSION into $OUT"
