# The container images (docs/images.md): podplug (operator, CLI, launcher), the
# TypeScript examples and go-plugin's examples/grpc plugin, built with buildah
# without a daemon or a registry into dist/images/<name>.oci.tar, indexed by
# dist/images/images.json. An image whose inputs did not change is kept.
.PHONY: images image-context image-deps

image-deps:
	@tools/install-image-deps.sh

## images: build every image into dist/images (OCI archives + images.json)
images: $(NODE_DEPS) image-deps
	@tools/build-images.sh >/dev/null

## image-context: stage the build context (dist/images/context) for docker/podman build
image-context: $(NODE_DEPS)
	tools/build-images.sh --context-only

test-deps: images
