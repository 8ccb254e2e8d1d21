# Sourced by tools/build-*.sh: builds kept in $PODPLUG_CACHE, keyed by their sources' hash.
# Expects $root (the repository).

# source_hash PATH...: 12 hex digits of a sha256 over the Go and shell sources under PATH... (relative to $root).
source_hash() {
  (cd "$root" && find "$@" tools/cached-build.sh -type f \
      \( -name '*.go' -o -name go.mod -o -name go.sum -o -name '*.sh' \) \
      | LC_ALL=C sort -u | xargs sha256sum | sha256sum | cut -c1-12)
}

# hit DIR: a build found in the cache is marked used now, so that publish (below) never drops
# a build that a running test still uses because it was made long ago.
hit() {
  touch "$1" 2>/dev/null || true
}

# publish TMP DIR: moves the finished build TMP to DIR (another build may have won the race;
# either copy is complete), then drops the builds beside it not used for an hour (a test run
# may still be using the others).
publish() {
  chmod 755 "$1"
  mv -T "$1" "$2" 2>/dev/null || true
  rm -rf "$1"
  find "$(dirname "$2")" -mindepth 1 -maxdepth 1 -type d ! -path "$2" -mmin +60 -exec rm -rf {} +
}
