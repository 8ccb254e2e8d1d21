#!/usr/bin/env bash
# Installs the given Debian packages with apt-get, only those missing, so a
# machine that has them all runs no apt-get at all. Used by the
# install-*-deps.sh scripts; needs root when something is missing.
#
#   tools/apt-install.sh <who> <package>...
set -euo pipefail
who="$1"
shift

missing=()
for p in "$@"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "$who: missing ${missing[*]}; run as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
echo "$who: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No package may start its daemon (containerd, prometheus): the tests run their own, on loopback or
# in the node's namespace. Debian's policy-rc.d hook says so; add one for the install if the machine has none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
