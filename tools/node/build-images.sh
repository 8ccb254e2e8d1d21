#!/usr/bin/env bash
# Builds the node's own images (pause, the e2e tools image) and writes their
# index, one JSON object per image: {"ref": "<name:tag>", "archive": "<tar>"}.
# Prints the index's path. The e2e harness imports every archive it lists.
set -euo pipefail
CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
here="$(dirname "$0")"
index="$CACHE/node-images/index.json"
pause="$("$here/build-pause.sh")"
tools="$("$here/build-test-image.sh")"
ref_of() { tar -xOf "$1" ./index.json | jq -r '.manifests[0].annotations["io.containerd.image.name"]'; }
{
  for a in "$pause" "$tools"; do jq -nc --arg ref "$(ref_of "$a")" --arg archive "$a" '{ref: $ref, archive: $archive}'; done
} >"$index.tmp"
mv "$index.tmp" "$index"
echo "$index"
