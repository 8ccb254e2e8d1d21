#!/usr/bin/env bash
# Installs, with apt-get, what `make images` and its tests need: buildah
# (builds the Containerfiles without a daemon), and umoci + runc (the image
# tests unpack each image and run it), binutils (strip, for the node binary of
# the base). Only what is missing (tools/apt-install.sh).
set -euo pipefail

PACKAGES=(buildah umoci runc binutils)

exec "$(dirname "$0")/apt-install.sh" install-image-deps.sh "${PACKAGES[@]}"
