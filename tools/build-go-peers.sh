#!/usr/bin/env bash
# Builds the Go peers of the interop tests and benchmarks, from the real
# github.com/hashicorp/go-plugin module at the version test/go/go.mod pins:
#   grpc-host, grpc-plugin      go-plugin's examples/grpc host and plugin-go-grpc, unmodified
#   bidir-host, bidir-plugin    go-plugin's examples/bidirectional host and plugin-go-grpc, unmodified
#   stream-host, stream-plugin  go-plugin's examples/streaming host and plugin, unmodified
#   gohost, gohost-counter      test/go/cmd/gohost (kv, counter): AutoMTLS, reattach, multiplex, logs
#   goplugin                    test/go/cmd/goplugin: kv plugin that logs at every level
#   benchhost, benchhost-counter  test/go/cmd/benchhost: the Go host of the benchmarks (kv, stream; counter)
#   tlspeer                     test/go/cmd/tlspeer: host with ClientConfig.TLSConfig, plugin with ServeConfig.TLSProvider
# into $PODPLUG_CACHE/go-peers/<go-plugin version>-<hash of test/go and sdk/go>/
# and prints that folder. Does nothing but print it when it already exists.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PODPLUG_CACHE:-$HOME/.cache/podplug}

pinned=$(awk '$1 == "github.com/hashicorp/go-plugin" { print $2 }' "$root/test/go/go.mod")
# GO_PLUGIN_VERSION (e.g. mk/versions.env's PODPLUG_GO_PLUGIN_OLDEST) builds the same peers
# against another go-plugin: copies of test/go and sdk/go whose go.mod files require it.
version=${GO_PLUGIN_VERSION:-$pinned}
case "$version" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "build-go-peers: GO_PLUGIN_VERSION=$version is not a version (vX.Y.Z)" >&2; exit 1 ;; esac
# shellcheck source=tools/cached-build.sh
. "$root/tools/cached-build.sh"
hash=$(source_hash test/go sdk/go tools/build-go-peers.sh)
dir=$cache/go-peers/$version-$hash
if [ -d "$dir" ]; then
  hit "$dir"
  echo "$dir"
  exit 0
fi

command -v go >/dev/null || { echo "build-go-peers: go is not on PATH (Go >= 1.24 builds the Go test peers)" >&2; exit 1; }
mkdir -p "$cache/go-peers"
tmp=$(mktemp -d "$cache/go-peers/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
examples=github.com/hashicorp/go-plugin/examples
cd "$root/test/go"
if [ "$version" != "$pinned" ]; then
  src=$(mktemp -d "$cache/go-peers/.src.XXXXXX")
  trap 'rm -rf "$tmp" "$src"' EXIT
  mkdir -p "$src/test" "$src/sdk"
  cp -R "$root/test/go" "$src/test/go"
  cp -R "$root/sdk/go" "$src/sdk/go"
  for m in "$src/sdk/go" "$src/test/go"; do
    (cd "$m" && go mod edit -require="github.com/hashicorp/go-plugin@$version" && go mod tidy >&2)
  done
  cd "$src/test/go"
fi
build() { # build OUT [go build args...]
  local out=$1; shift
  go build -trimpath -ldflags="-s -w" -o "$tmp/$out" "$@"
}
echo "build-go-peers: building go-plugin $version peers into $dir" >&2
build grpc-host $examples/grpc
build grpc-plugin $examples/grpc/plugin-go-grpc
build bidir-host $examples/bidirectional
build bidir-plugin $examples/bidirectional/plugin-go-grpc
build stream-host $examples/streaming
build stream-plugin $examples/streaming/plugin
build gohost ./cmd/gohost
build gohost-counter -tags counter ./cmd/gohost
build goplugin ./cmd/goplugin
build benchhost ./cmd/benchhost
build benchhost-counter -tags counter ./cmd/benchhost
build tlspeer ./cmd/tlspeer
echo "$version" >"$tmp/GO_PLUGIN_VERSION"
trap - EXIT
# Older builds (other sources or versions) are dead weight, ~100 MB each.
publish "$tmp" "$dir"
echo "$dir"
