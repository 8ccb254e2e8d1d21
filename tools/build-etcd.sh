#!/usr/bin/env bash
# Builds etcd into the cache, keyed by version, from the Go module
# go.etcd.io/etcd/server/v3 (a throwaway module whose main calls etcdmain.Main,
# as etcd's own main.go does). Skips when present.
#   tools/build-etcd.sh [--print-path]
# Why not Debian's etcd-server: it is 3.4.23; kube-apiserver 1.32 accepts it but
# logs "RequestWatchProgress feature is not supported" and turns off consistent
# reads from its watch cache, so the tests would not run what clusters run. It
# also needs apt; this needs only the Go proxy and takes about a minute cold.
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
ETCD_VERSION="$PODPLUG_ETCD_VERSION"
GO_TOOLCHAIN="${ETCD_GOTOOLCHAIN:-go1.23.12}"
OUT="$CACHE/etcd/$ETCD_VERSION"

if [ "${1:-}" = "--print-path" ]; then echo "$OUT/etcd"; exit 0; fi
if [ -x "$OUT/etcd" ]; then echo "build-etcd.sh: etcd $ETCD_VERSION already in $OUT"; exit 0; fi
command -v go >/dev/null || { echo "build-etcd.sh: 'go' not on PATH; install Go (the $GO_TOOLCHAIN toolchain is fetched from the Go proxy)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOTOOLCHAIN="$GO_TOOLCHAIN" GOFLAGS="-mod=mod" CGO_ENABLED=0
start=$(date +%s)
cat > go.mod <<GOMOD
module podplug.local/etcdbuild

go 1.23.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
cat > main.go <<'GO'
// The etcd binary: the same entry point as etcd's own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
go mod tidy -e
mkdir -p "$OUT"
go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=podplug" -o "$OUT/etcd.tmp" .
mv "$OUT/etcd.tmp" "$OUT/etcd"
echo "build-etcd.sh: built etcd $ETCD_VERSION into $OUT in $(( $(date +%s) - start ))s"
