#!/usr/bin/env bash
# Puts the C library that jazzer.js's native addon needs into the cache: its
# prebuilt fuzzer-linux-x64.node imports glibc 2.38 symbols (__isoc23_strtol),
# Debian 12 has 2.36. Debian 13's libc6, libstdc++6 and libgcc-s1 are fetched
# with apt-get from a private sources list and lists folder (the system's apt
# state is not touched), so apt checks each .deb's SHA256 against the Packages
# index of a Release file signed by a key of the Debian archive keyring. They are
# unpacked (dpkg-deb -x, not installed) into
#   $PODPLUG_CACHE/fuzz-libc/<suite>-<libc6>-<gcc>/usr/lib/x86_64-linux-gnu
# and only the fuzzer's node runs on them, through their own dynamic loader
# (tools/jazzer.sh). Network: deb.debian.org, at install time only.
#   tools/fetch-fuzz-libc.sh [--print-path]
set -euo pipefail
. "$(dirname "$0")/../mk/load-versions.sh"
CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
SUITE="$PODPLUG_FUZZ_LIBC_SUITE"
LIBC="$PODPLUG_FUZZ_LIBC6_VERSION"
GCC="$PODPLUG_FUZZ_GCC_VERSION"
KEYRING=${PODPLUG_FUZZ_LIBC_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
OUT="$CACHE/fuzz-libc/$SUITE-$LIBC-$GCC"
LIB="$OUT/usr/lib/x86_64-linux-gnu"

if [ "${1:-}" = "--print-path" ]; then echo "$LIB"; exit 0; fi
if [ -x "$LIB/ld-linux-x86-64.so.2" ] && [ -f "$LIB/libstdc++.so.6" ]; then
  touch "$OUT"
  exit 0
fi
for c in apt-get dpkg-deb; do command -v "$c" >/dev/null || { echo "fetch-fuzz-libc.sh: $c not found: this script fetches Debian packages (the project's machines are Debian 12)" >&2; exit 1; }; done
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "fetch-fuzz-libc.sh: only amd64 is supported (jazzer.js ships linux-x64)" >&2; exit 1; }
[ -r "$KEYRING" ] || { echo "fetch-fuzz-libc.sh: $KEYRING missing: install the debian-archive-keyring package" >&2; exit 1; }

# Downloaded in the system's temp folder: apt's _apt user can reach it there (not under a 0700 home).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$OUT.tmp.$$"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/deb" "$tmp/root"
# apt downloads as its _apt user when run as root: let it write there (else it warns and downloads as root).
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/deb"; fi
echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $SUITE main" >"$tmp/sources.list"
: >"$tmp/status"
apt_opts=(
  -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "Dir::Cache::Archives=$tmp/archives"
  -o "Dir::State::status=$tmp/status" -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
  -o APT::Architectures=amd64 -o Acquire::Languages=none -o Debug::NoLocking=1
)
apt-get "${apt_opts[@]}" -qq update || {
  echo "fetch-fuzz-libc.sh: apt-get update of Debian $SUITE failed: no route to deb.debian.org, or its Release is not signed by a key in $KEYRING" >&2
  exit 1
}
# apt-get download fetches into the current folder and checks each file against the signed index.
(cd "$tmp/deb" && apt-get "${apt_opts[@]}" -qq download "libc6=$LIBC" "libstdc++6=$GCC" "libgcc-s1=$GCC") || {
  echo "fetch-fuzz-libc.sh: Debian $SUITE no longer has libc6 $LIBC or libstdc++6/libgcc-s1 $GCC (a point release replaced them?):" \
    "see 'apt-cache policy' against $SUITE and set PODPLUG_FUZZ_LIBC6_VERSION / PODPLUG_FUZZ_GCC_VERSION in mk/versions.env" >&2
  exit 1
}
for d in "$tmp"/deb/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
l="$tmp/root/usr/lib/x86_64-linux-gnu"
[ -x "$l/ld-linux-x86-64.so.2" ] && [ -f "$l/libstdc++.so.6" ] || { echo "fetch-fuzz-libc.sh: the packages lack ld-linux-x86-64.so.2 or libstdc++.so.6" >&2; exit 1; }
# The loader must run a program against these libraries (here: itself listing its version).
"$l/ld-linux-x86-64.so.2" --library-path "$l" --version | head -1 | grep -q '2\.4' || { echo "fetch-fuzz-libc.sh: $l/ld-linux-x86-64.so.2 does not run" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
mv "$tmp/root" "$OUT.tmp.$$"
rm -rf "$OUT"
mv -T "$OUT.tmp.$$" "$OUT"
echo "fetch-fuzz-libc.sh: glibc $LIBC and libstdc++ $GCC ($SUITE) in $LIB"
