#!/usr/bin/env bash
# Builds the node's pause (sandbox) image from source, with no registry: pause.c
# from the k8s.io/kubernetes module zip at the pinned version, gcc -static, and an
# OCI layout assembled with umoci. Prints the archive's path. Cached, keyed by
# the Kubernetes version and pause's own TAG.
#
#   tools/node/build-pause.sh            builds (if needed) and prints the .tar path
#   ctr -n k8s.io images import --base-name localhost/podplug/pause <tar>
set -euo pipefail
CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
. "$(dirname "$0")/../../mk/load-versions.sh"
. "$(dirname "$0")/oci-archive.sh"
KUBE_VERSION="$PODPLUG_KUBE_VERSION"

zip="$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | jq -r .Zip)"
[ -f "$zip" ] || { echo "build-pause.sh: go mod download gave no zip for k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }
prefix="k8s.io/kubernetes@$KUBE_VERSION/build/pause"
tag="$(unzip -p "$zip" "$prefix/Makefile" | sed -n 's/^TAG *?= *//p' | head -n1)"
[ -n "$tag" ] || { echo "build-pause.sh: no TAG in $prefix/Makefile" >&2; exit 1; }
out="$CACHE/node-images/pause-$tag-$KUBE_VERSION.tar"
if [ -f "$out" ]; then echo "$out"; exit 0; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unzip -p "$zip" "$prefix/linux/pause.c" >"$work/pause.c"
gcc -Os -Wall -Werror -static -DVERSION="v$tag-podplug" -o "$work/pause" "$work/pause.c"
strip "$work/pause"
# Fixed times where umoci takes them; digest reproducibility is the images target's job, not this one.
touch -d @0 "$work/pause"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:$tag"
umoci insert --history.created 1970-01-01T00:00:00Z --history.created_by "gcc -static pause.c" \
  --image "$work/oci:$tag" "$work/pause" /pause >&2
umoci config --no-history --image "$work/oci:$tag" --config.entrypoint /pause --config.user 65535:65535 \
  --created 1970-01-01T00:00:00Z --no-history
oci_archive "$work/oci" "localhost/podplug/pause:$tag" "$out"
echo "$out"
