#!/usr/bin/env bash
# Builds the Kubernetes binaries the test cluster needs into the cache, keyed by
# version, and skips what is already there. Nothing here is committed.
#
#   tools/build-kube.sh                      kube-apiserver (the default)
#   tools/build-kube.sh --components "kube-apiserver kube-scheduler kube-controller-manager kubelet"
#   tools/build-kube.sh --print-dir          prints the output folder and exits
#
# How: a throwaway Go module in a temp folder requires k8s.io/kubernetes at the
# latest patch of the preinstalled kubectl's minor and replaces every k8s.io/*
# staging module (which k8s.io/kubernetes points at ./staging/...) with its
# published v0.<minor>.<patch>. The toolchain is the Go line upstream built
# that release with, fetched from the Go proxy via GOTOOLCHAIN.
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
KUBE_VERSION="$PODPLUG_KUBE_VERSION"
KUBE_MINOR="${KUBE_VERSION#v1.}"; KUBE_MINOR="${KUBE_MINOR%%.*}"
# The Go line upstream built each minor with (latest patch on the Go proxy).
case "$KUBE_MINOR" in
  32) DEFAULT_TOOLCHAIN=go1.23.12 ;;
  33) DEFAULT_TOOLCHAIN=go1.24.13 ;;
  *) DEFAULT_TOOLCHAIN=auto ;;
esac
GO_TOOLCHAIN="${KUBE_GOTOOLCHAIN:-$DEFAULT_TOOLCHAIN}"
COMPONENTS="kube-apiserver"
PRINT_DIR=0

while [ $# -gt 0 ]; do
  case "$1" in
    --components) COMPONENTS="$2"; shift 2 ;;
    --all) COMPONENTS="kube-apiserver kube-scheduler kube-controller-manager kubelet kube-proxy"; shift ;;
    --print-dir) PRINT_DIR=1; shift ;;
    *) echo "build-kube.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done

OUT="$CACHE/kube/$KUBE_VERSION"
if [ "$PRINT_DIR" = 1 ]; then echo "$OUT"; exit 0; fi

missing=()
for c in $COMPONENTS; do
  [ -x "$OUT/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "build-kube.sh: $COMPONENTS $KUBE_VERSION already in $OUT"
  exit 0
fi

command -v go >/dev/null || { echo "build-kube.sh: 'go' not on PATH; install Go (any version: the $GO_TOOLCHAIN toolchain is fetched from the Go proxy)" >&2; exit 1; }

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
patch="${KUBE_VERSION##*.}"
staging_version="v0.$minor.$patch"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOTOOLCHAIN="$GO_TOOLCHAIN" GOFLAGS="-mod=mod" CGO_ENABLED=0

start=$(date +%s)
cat > go.mod <<EOF
module podplug.local/kubebuild

go 1.23.0
EOF

# The staging modules are the replace directives of k8s.io/kubernetes's own go.mod.
gomod_json="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION")"
gomod_file="$(printf '%s' "$gomod_json" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
staging=$(grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$gomod_file" | awk '{print $1}')
[ -n "$staging" ] || { echo "build-kube.sh: found no staging replaces in $gomod_file" >&2; exit 1; }

{
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo "replace ("
  for m in $staging; do echo "  $m => $m $staging_version"; done
  echo ")"
} >> go.mod

pkgs=()
for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
# A blank-import file keeps `go mod tidy` from dropping what we build.
{
  echo "//go:build tools"
  echo "package tools"
  echo "import ("
  for p in "${pkgs[@]}"; do echo "  _ \"$p\""; done
  echo ")"
} > tools.go
# -e: some staging modules are only imported by tests of dependencies, and the
# proxy may lack their zips; the build itself does not need them.
go mod tidy -e

ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$OUT.tmp"
for c in "${missing[@]}"; do
  echo "build-kube.sh: building $c $KUBE_VERSION with $GO_TOOLCHAIN"
  if ! go build -trimpath -ldflags "$ldflags" -o "$OUT.tmp/$c" "k8s.io/kubernetes/cmd/$c"; then
    echo "build-kube.sh: $c $KUBE_VERSION did not build. If go said a k8s.io module version 'is not available'," >&2
    echo "  the Go proxy lacks that staging module at $staging_version (at the time of writing k8s.io/csi-translation-lib" >&2
    echo "  and k8s.io/cri-client v0.32.x, which kube-scheduler, kube-controller-manager and kubelet need; v1.33.13 has" >&2
    echo "  them all): try PODPLUG_KUBE_VERSION=v1.33.13." >&2
    exit 1
  fi
done
mkdir -p "$OUT"
mv "$OUT.tmp"/* "$OUT/"
rmdir "$OUT.tmp"
echo "build-kube.sh: built ${missing[*]} into $OUT in $(( $(date +%s) - start ))s"
