#!/usr/bin/env bash
# Builds podplug-launcher and its podplug-probe (sdk/launcher: docs/launcher.md),
# static (CGO_ENABLED=0), into $PODPLUG_CACHE/launcher/<hash of their sources and
# this script>/ and prints the launcher's path (the probe is beside it). Does nothing but print it when it already exists.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PODPLUG_CACHE:-$HOME/.cache/podplug}
# shellcheck source=tools/cached-build.sh
. "$root/tools/cached-build.sh"
hash=$(source_hash sdk/launcher tools/build-launcher.sh)
dir=$cache/launcher/$hash
if [ -x "$dir/podplug-launcher" ] && [ -x "$dir/podplug-probe" ]; then
  hit "$dir"
  echo "$dir/podplug-launcher"
  exit 0
fi
command -v go >/dev/null || { echo "build-launcher: go is not on PATH (Go >= 1.24 builds the launcher)" >&2; exit 1; }
mkdir -p "$cache/launcher"
tmp=$(mktemp -d "$cache/launcher/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build-launcher: building podplug-launcher into $dir" >&2
(cd "$root/sdk/launcher" \
  && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o "$tmp/podplug-launcher" . \
  && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o "$tmp/podplug-probe" ./probe)
trap - EXIT
publish "$tmp" "$dir"
echo "$dir/podplug-launcher"
