#!/usr/bin/env bash
# Installs, with apt-get, what the real node of the e2e tests needs (containerd,
# runc, the CNI plugins, iptables, conntrack, umoci for the images, busybox-static
# and a static libc for the pause and test images). Idempotent: it installs only
# what is missing, so a machine that has everything runs no apt-get at all.
# Needs root (the node itself needs root too); see docs/e2e.md.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux
  umoci busybox-static gcc libc6-dev openssl unzip)

exec "$(dirname "$0")/apt-install.sh" install-node-deps.sh "${PACKAGES[@]}"
