#!/usr/bin/env bash
# Installs, with apt-get, what the real node of the e2e tests needs (containerd,
# runc, the CNI plugins, iptables, conntrack, umoci for the images, busybox-static
# and a static libc for the pause and test images). Idempotent: it installs only
# what is missing, so a machine that has everything runs no apt-get at all.
# Needs root (the node itself needs root too); see docs/e2e.md.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux
  umoci busybox-static gcc libc6-dev openssl unzip)

missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-node-deps.sh: missing ${missing[*]}; run as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
echo "install-node-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d on these machines keeps the containerd package from starting a daemon; the node runs its own.
apt-get install -y -qq --no-install-recommends "${missing[@]}"
