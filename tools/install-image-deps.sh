#!/usr/bin/env bash
# Installs, with apt-get, what `make images` and its tests need: buildah
# (builds the Containerfiles without a daemon), and umoci + runc (the image
# tests unpack each image and run it). Idempotent: it installs only what is
# missing, so a machine that has everything runs no apt-get at all. (binutils:
# strip, for the node binary of the base.)
set -euo pipefail

PACKAGES=(buildah umoci runc binutils)

missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-image-deps.sh: missing ${missing[*]}; run as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
echo "install-image-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
