#!/usr/bin/env bash
# Builds the e2e suite's own small tools image, localhost/podplug/e2e-tools,
# with no registry: Debian's static busybox and its applet links in an OCI
# layout made with umoci, run as 65534. The suite uses it to scrape /metrics
# over the pod network and as a first pod on a fresh node. Prints the archive's
# path; cached, keyed by the busybox package version.
set -euo pipefail
CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
. "$(dirname "$0")/oci-archive.sh"
BUSYBOX=/bin/busybox
version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
[ -n "$version" ] && [ -x "$BUSYBOX" ] || { echo "build-test-image.sh: busybox-static is not installed: run tools/install-node-deps.sh" >&2; exit 1; }
tag="v2-${version//[^A-Za-z0-9._-]/_}"
out="$CACHE/node-images/e2e-tools-$tag.tar"
if [ -f "$out" ]; then echo "$out"; exit 0; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/tmp"
cp "$BUSYBOX" "$work/root/bin/busybox"
for a in sh ls cat echo id kill sleep wget nc grep ps env date true false ip route touch; do ln -s busybox "$work/root/bin/$a"; done
chmod 1777 "$work/root/tmp"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:$tag"
umoci insert --history.created 1970-01-01T00:00:00Z --history.created_by "busybox-static $version" \
  --image "$work/oci:$tag" "$work/root" / >&2
umoci config --no-history --image "$work/oci:$tag" --config.cmd /bin/sh --config.user 65534:65534 \
  --config.env PATH=/bin --created 1970-01-01T00:00:00Z
oci_archive "$work/oci" "localhost/podplug/e2e-tools:$tag" "$out"
echo "$out"
