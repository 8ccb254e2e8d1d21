# The real node of the e2e tests (test/node, test/e2e; docs/e2e.md): the
# packages it needs (apt, as root, only what is missing), every Kubernetes
# component (tools/build-kube.sh --all), and its own images (pause from
# source, the e2e tools image) with their index. All cached; warm, these are
# no-ops.
NODE_IMAGE_INDEX := $(PODPLUG_CACHE)/node-images/index.json

.PHONY: node-deps node-images e2e

## node-deps: containerd, runc, CNI plugins, iptables, conntrack, umoci, busybox-static, gcc (apt-get; idempotent)
node-deps:
	@tools/install-node-deps.sh

## node-images: the pause image (from k8s.io/kubernetes's pause.c) and the e2e tools image, as OCI archives
node-images: node-deps
	@tools/node/build-images.sh >/dev/null

# The project's images (tools/build-images.sh, `make images`), which the chain tests import.
PROJECT_IMAGES := $(if $(wildcard tools/build-images.sh),images)

test-deps: node-deps cluster-deps-node node-images $(PROJECT_IMAGES)

## e2e: the e2e suite alone. On the harness's node (root), or on any cluster: make e2e KUBECONFIG=~/.kube/config
## (images loaded with PODPLUG_E2E_LOAD, default `kind load image-archive`; see docs/e2e.md)
e2e: $(NODE_DEPS) cluster-deps node-images $(PROJECT_IMAGES)
	PODPLUG_E2E_KUBECONFIG="$(KUBECONFIG)" mocha --config test/e2e/mocharc.json
