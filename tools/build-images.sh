#!/usr/bin/env bash
# Builds podplug's container images without a Docker daemon and without a
# registry (docs/images.md):
#   podplug            operator + CLI + launcher       images/Containerfile --target podplug
#   example-kv         examples/kv plugin               images/Containerfile --target example-kv
#   example-counter    examples/counter plugin          images/Containerfile --target example-counter
#   example-demo-host  examples/demo host               images/Containerfile --target example-demo-host
#   example-go-kv      go-plugin's examples/grpc plugin images/go-plugin/Containerfile
# with buildah (daemonless, storage in $PODPLUG_CACHE/images/buildah) on a
# Node 24 base made here (images/base/Containerfile) from the project's own
# `node` npm package and the libraries ldd lists for it. Every file and the
# image config get the timestamp $SOURCE_DATE_EPOCH (default 0), so the same
# inputs give the same digests.
#
# Writes <out>/<name>.oci.tar (OCI archives, for `ctr images import` or
# `kind load image-archive`) and <out>/images.json (name, ref, archive,
# digest, size). Default <out>: dist/images.
#
# usage: tools/build-images.sh [--out DIR] [--no-cache] [--context-only] [NAME...]
#   --no-cache      rebuild every layer (the reproducibility test uses it)
#   --context-only  only stage the build context (<out>/context), for docker/podman
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Versions: mk/versions.env (an environment variable of the same name wins).
. "$root/mk/load-versions.sh"
cache=${PODPLUG_CACHE:-$HOME/.cache/podplug}
export PATH=$root/node_modules/.bin:$PATH
umask 022

out=$root/dist/images
no_cache=()
context_only=false
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --no-cache) no_cache=(--no-cache); shift ;;
    --context-only) context_only=true; shift ;;
    -*) echo "build-images: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
all=(podplug example-kv example-counter example-demo-host example-go-kv)
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for n in "${names[@]}"; do
  [[ " ${all[*]} " == *" $n "* ]] || { echo "build-images: unknown image $n (known: ${all[*]})" >&2; exit 2; }
done

version=$(node -p 'require(process.argv[1]).version' "$root/package.json")
repo=${PODPLUG_IMAGE_REPO:-ghcr.io/podplug}
epoch=${SOURCE_DATE_EPOCH:-0}
go_plugin=$(awk '$1 == "github.com/hashicorp/go-plugin" { print $2 }' "$root/test/go/go.mod")
node_bin=$(readlink -f "$root/node_modules/node/bin/node")
node_version=$("$node_bin" -p 'process.versions.node')
ctx=$out/context
log() { echo "build-images: $*" >&2; }
sha() { sha256sum "$@" | cut -c1-16; }

# --- the build context ------------------------------------------------------
rm -rf "$ctx" && mkdir -p "$ctx"

# base/rootfs: node (symbols stripped: 126 -> 108 MB) + its shared libraries,
# their Debian copyright files, a passwd/group naming uid 65532.
stage_base() {
  local r=$ctx/base/rootfs lib real pkg
  mkdir -p "$r/nodejs/bin" "$r/etc" "$r/home/nonroot" "$r/tmp"
  chmod 1777 "$r/tmp"
  strip -o "$r/nodejs/bin/node" "$node_bin"
  for lib in $(ldd "$node_bin" | awk '/=>/ { print $3 } /^[[:space:]]*\/lib64\// { print $1 }'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
    real=$(readlink -f "$lib")
    pkg=$(dpkg -S "$real" 2>/dev/null | cut -d: -f1 | head -1 || true)
    [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" | cut -d: -f1 | head -1)
    if [ -f "/usr/share/doc/$pkg/copyright" ]; then
      mkdir -p "$r/usr/share/doc/$pkg" && cp "/usr/share/doc/$pkg/copyright" "$r/usr/share/doc/$pkg/"
    fi
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
}

# app/: package.json, the production dependencies (npm ci --omit=dev from the
# lockfile, offline, cached by lockfile) and tsc's output for src/ and operator/.
stage_app() {
  local key deps tsc_out
  key=$(cat "$root/package.json" "$root/package-lock.json" | sha)
  deps=$cache/images/deps-$key
  if [ ! -d "$deps/node_modules" ]; then
    log "installing production dependencies into $deps"
    rm -rf "$deps.tmp" && mkdir -p "$deps.tmp"
    cp "$root/package.json" "$root/package-lock.json" "$deps.tmp/"
    (cd "$deps.tmp" && npm ci --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    # Node never loads TypeScript or source maps from node_modules: 110 -> 57 MB.
    find "$deps.tmp/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete
    rm -f "$deps.tmp/package-lock.json"
    rm -rf "$deps" && mv "$deps.tmp" "$deps"
    find "$cache/images" -maxdepth 1 -name 'deps-*' ! -path "$deps" -mmin +60 -exec rm -rf {} +
  fi
  mkdir -p "$ctx/app"
  cp "$root/package.json" "$ctx/app/"
  cp -a "$deps/node_modules" "$ctx/app/"
  # A clean compile of exactly the sources (not whatever else lies in dist/).
  tsc_out=$ctx/tsc
  tsc -p "$root/images/tsconfig.json" --outDir "$tsc_out"
  mkdir -p "$ctx/app/dist" "$ctx/examples/dist"
  cp -a "$tsc_out/src" "$tsc_out/operator" "$ctx/app/dist/"
  cp -a "$tsc_out/examples" "$ctx/examples/dist/"
  rm -rf "$tsc_out"
  # examples/<x>/<f>.ts -> the compiled file (see images/Containerfile).
  local js rel
  while IFS= read -r js; do
    rel=${js#"$ctx/examples/dist/"}
    mkdir -p "$ctx/examples/$(dirname "$rel")"
    ln -s "../../dist/${rel}" "$ctx/examples/${rel%.js}.ts"
  done < <(find "$ctx/examples/dist" -name '*.js' | LC_ALL=C sort)
}

# go/grpc-plugin: go-plugin's examples/grpc/plugin-go-grpc, static.
stage_go() {
  local gov dir
  gov=$(go env GOVERSION)
  dir=$cache/images/go/$go_plugin-$gov
  if [ ! -x "$dir/grpc-plugin" ]; then
    log "building go-plugin $go_plugin examples/grpc/plugin-go-grpc (CGO_ENABLED=0, $gov)"
    mkdir -p "$dir"
    (cd "$root/test/go" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
      -o "$dir/grpc-plugin.tmp" github.com/hashicorp/go-plugin/examples/grpc/plugin-go-grpc)
    mv "$dir/grpc-plugin.tmp" "$dir/grpc-plugin"
  fi
  mkdir -p "$ctx/go"
  cp "$dir/grpc-plugin" "$ctx/go/"
}

# launcher/: podplug-launcher and podplug-probe (tools/build-launcher.sh: static Go, cached), for the podplug image.
stage_launcher() {
  local bin
  bin=$("$root/tools/build-launcher.sh")
  mkdir -p "$ctx/launcher"
  cp "$bin" "$(dirname "$bin")/podplug-probe" "$ctx/launcher/"
  chmod 0755 "$ctx/launcher/podplug-launcher" "$ctx/launcher/podplug-probe"
}

need_node=false need_go=false
for n in "${names[@]}"; do
  if [ "$n" = example-go-kv ]; then need_go=true; else need_node=true; fi
done
if $need_node || $context_only; then stage_base; stage_app; fi
if $need_go || $context_only; then stage_go; fi
if [[ " ${names[*]} " == *" podplug "* ]] || $context_only; then stage_launcher; fi
if $context_only; then
  log "build context staged in $ctx"
  exit 0
fi

# --- the images -------------------------------------------------------------
command -v buildah >/dev/null || { echo "build-images: buildah is not installed (tools/install-image-deps.sh installs it)" >&2; exit 1; }
store=$cache/images/buildah
B=(buildah --root "$store/root" --runroot "$store/run" --storage-driver overlay)
common=(--timestamp "$epoch" --layers --pull=never --format oci --identity-label=false
  --build-arg "VERSION=$version" "${no_cache[@]}")
base_ref=localhost/podplug/node-base:$node_version
mkdir -p "$out"

# What an image is built from: the staged files it copies (content, mode,
# link targets), its Containerfile, this script, buildah's version and the
# settings above. An archive built from the same inputs is kept as it is.
tree_hash() { # DIR (under the context): one line naming its content
  [ -d "$ctx/$1" ] || { echo "$1 -"; return; }
  (cd "$ctx" && find "$1" \( -type f -o -type l \) -printf '%p %m %l\n' | LC_ALL=C sort \
    && find "$1" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum
}
declare -A tree
for d in base app examples go launcher; do tree[$d]=$(tree_hash "$d"); done
inputs() { # NAME
  {
    case $1 in
      example-go-kv) echo "${tree[go]}"; cat "$root/images/go-plugin/Containerfile" ;;
      podplug) echo "${tree[base]} ${tree[app]} ${tree[launcher]}"; cat "$root/images/base/Containerfile" "$root/images/Containerfile" ;;
      *) echo "${tree[base]} ${tree[app]} ${tree[examples]}"; cat "$root/images/base/Containerfile" "$root/images/Containerfile" ;;
    esac
    cat "$0"; buildah --version; echo "$1 $repo $version $epoch $go_plugin"
  } | sha256sum | cut -d' ' -f1
}
built_inputs() { # NAME: the inputs recorded in images.json for NAME, when its archive is there
  [ -f "$out/images.json" ] && [ -f "$out/$1.oci.tar" ] || return 0
  node -e 'const i = require(process.argv[1]).images.find((x) => x.name === process.argv[2]); if (i) console.log(i.inputs ?? "")' \
    "$out/images.json" "$1"
}

declare -A want
todo=()
for n in "${names[@]}"; do
  want[$n]=$(inputs "$n")
  if [ ${#no_cache[@]} -eq 0 ] && [ "$(built_inputs "$n")" = "${want[$n]}" ]; then
    log "$repo/$n:$version unchanged"
  else
    todo+=("$n")
  fi
done
if [ -n "$(printf '%s\n' "${todo[@]}" | grep -vx example-go-kv || true)" ]; then
  log "base $base_ref"
  "${B[@]}" build "${common[@]}" -q -f "$root/images/base/Containerfile" -t "$base_ref" "$ctx/base" >/dev/null
fi

rows=()
for n in "${todo[@]}"; do
  ref=$repo/$n:$version
  in=${want[$n]}
  start=$(date +%s.%N)
  if [ "$n" = example-go-kv ]; then
    "${B[@]}" build "${common[@]}" -q --build-arg "GO_PLUGIN_VERSION=$go_plugin" \
      -f "$root/images/go-plugin/Containerfile" -t "$ref" "$ctx/go" >/dev/null
  else
    "${B[@]}" build "${common[@]}" -q --build-arg "BASE=$base_ref" --target "$n" \
      -f "$root/images/Containerfile" -t "$ref" "$ctx" >/dev/null
  fi
  # Written aside, then renamed: a reader (ctr import) never sees half an archive.
  rm -f "$out/.$n.oci.tar" "$out/.$n.digest"
  "${B[@]}" push -q --format oci --digestfile "$out/.$n.digest" "$ref" "oci-archive:$out/.$n.oci.tar:$ref"
  mv -f "$out/.$n.oci.tar" "$out/$n.oci.tar"
  digest=$(cat "$out/.$n.digest") && rm -f "$out/.$n.digest"
  size=$(stat -c %s "$out/$n.oci.tar")
  log "$ref $digest $(awk -v s="$size" -v t0="$start" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f MiB, %.1f s", s / 1048576, t1 - t0 }')"
  rows+=("$(printf '{"name":"%s","ref":"%s","archive":"%s.oci.tar","digest":"%s","size":%s,"inputs":"%s"}' "$n" "$ref" "$n" "$digest" "$size" "$in")")
done
# Keep the store small: drop images no tag points at any more.
"${B[@]}" rmi --prune >/dev/null 2>&1 || true

# images.json: what the node harness imports (`ctr -n k8s.io images import`).
node -e '
  const [file, ...rows] = process.argv.slice(1);
  const fs = require("node:fs");
  const dir = require("node:path").dirname(file);
  const old = (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")).images : [])
    .filter((o) => fs.existsSync(require("node:path").join(dir, o.archive)));
  const fresh = rows.map((r) => JSON.parse(r));
  const images = [...old.filter((o) => !fresh.some((f) => f.name === o.name)), ...fresh]
    .sort((a, b) => a.name.localeCompare(b.name));
  fs.writeFileSync(file, JSON.stringify({ images }, null, 2) + "\n");
' "$out/images.json" "${rows[@]}"
echo "$out/images.json"
