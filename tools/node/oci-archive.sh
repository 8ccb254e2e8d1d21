# Sourced by tools/node/build-*.sh. oci_archive LAYOUT NAME:TAG OUT writes the
# OCI layout as a tar whose index names the image in full
# (io.containerd.image.name), so `ctr images import`, `kind load image-archive`
# and `docker load` all import it under NAME:TAG with no --base-name.
oci_archive() {
  local layout="$1" ref="$2" out="$3"
  jq -c --arg ref "$ref" --arg tag "${ref##*:}" \
    '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == $tag)
       | .annotations["io.containerd.image.name"] = $ref)' "$layout/index.json" >"$layout/index.json.new"
  mv "$layout/index.json.new" "$layout/index.json"
  mkdir -p "$(dirname "$out")"
  tar -C "$layout" --sort=name --mtime=@0 --owner=0 --group=0 -cf "$out.tmp" .
  mv "$out.tmp" "$out"
}
