#!/usr/bin/env bash
# Builds cert-manager's controller and cainjector (the real binaries) into the
# cache, keyed by version, from the Go module proxy, and keeps the CRDs of the
# same release beside them. Skips when present. Nothing here is committed.
#   tools/build-cert-manager.sh [--print-dir]
#
# Why v1.11: from v1.12 on, cmd/controller and cmd/cainjector are modules of
# their own with replace directives, never published on the proxy (404);
# v1.11 is the last release whose root module holds them
# (docs/injection-modes.md, "cert-manager"). The root module has a replace
# directive too, so `go install mod@version` refuses it: the module is built
# as the main module from a copy of its proxy zip.
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
VERSION="$PODPLUG_CERT_MANAGER_VERSION"
OUT="$CACHE/cert-manager/$VERSION"

if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi
if [ -x "$OUT/controller" ] && [ -x "$OUT/cainjector" ] && [ -d "$OUT/crds" ]; then exit 0; fi
command -v go >/dev/null || { echo "build-cert-manager.sh: 'go' not on PATH; install Go" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
tmp="$(mktemp -d "$OUT.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0
start=$(date +%s)
dir="$(cd "$tmp" && go mod download -json "github.com/cert-manager/cert-manager@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[ -d "$dir" ] || { echo "build-cert-manager.sh: go mod download gave no folder for cert-manager $VERSION" >&2; exit 1; }
cp -r "$dir" "$tmp/src"
chmod -R u+w "$tmp/src"
(cd "$tmp/src" && go build -trimpath -ldflags "-s -w" -o "$tmp/bin/" ./cmd/controller ./cmd/cainjector)
mkdir -p "$tmp/out/crds"
mv "$tmp/bin/controller" "$tmp/bin/cainjector" "$tmp/out/"
# The CRDs are the Helm chart's templates: their only templated lines are labels (and a comment).
for f in "$tmp/src"/deploy/crds/crd-*.yaml; do sed '/{{/d' "$f" >"$tmp/out/crds/${f##*/}"; done
chmod 755 "$tmp/out"
mv -T "$tmp/out" "$OUT" 2>/dev/null || true
echo "build-cert-manager.sh: built cert-manager $VERSION into $OUT in $(($(date +%s) - start)) s"
