#!/usr/bin/env bash
# Installs another Node release line the SDKs support (default 22.23.3, the
# maintenance LTS) from the npm registry's `node` package into
# $PODPLUG_CACHE/node/<version>/, for the tests that prove each declared
# version. Kept out of the project's node_modules: two `node` packages would
# fight over node_modules/.bin/node.
set -euo pipefail
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
version=${1:-$PODPLUG_NODE22_VERSION}
cache=${PODPLUG_CACHE:-$HOME/.cache/podplug}
dir=$cache/node/$version
if [ -x "$dir/node_modules/node/bin/node" ]; then exit 0; fi
rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
echo '{"name":"podplug-node","version":"0.0.0","private":true,"allowScripts":{"node":true}}' > "$dir.tmp/package.json"
(cd "$dir.tmp" && npm install --no-audit --no-fund --save-exact "node@$version" >/dev/null)
"$dir.tmp/node_modules/node/bin/node" --version >/dev/null
rm -rf "$dir" && mv "$dir.tmp" "$dir"
