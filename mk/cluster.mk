# The test cluster's binaries (kube-apiserver, etcd, helm), built or fetched on
# first use into $(PODPLUG_CACHE), keyed by version; see docs/operator.md.
# Stamp files live in the cache, so a warm cache makes these no-ops.
PODPLUG_KUBE_VERSION ?= v1.32.13
PODPLUG_ETCD_VERSION ?= v3.5.21
export PODPLUG_KUBE_VERSION PODPLUG_ETCD_VERSION

KUBE_APISERVER_BIN := $(PODPLUG_CACHE)/kube/$(PODPLUG_KUBE_VERSION)/kube-apiserver
ETCD_BIN := $(PODPLUG_CACHE)/etcd/$(PODPLUG_ETCD_VERSION)/etcd
HELM_BIN := $(PODPLUG_CACHE)/helm/v3.17.2/helm

.PHONY: cluster-deps cluster-deps-node

$(KUBE_APISERVER_BIN):
	tools/build-kube.sh

$(ETCD_BIN):
	tools/build-etcd.sh

$(HELM_BIN):
	tools/fetch-helm.sh

## cluster-deps: what the operator tests need (kube-apiserver, etcd, helm)
cluster-deps: $(KUBE_APISERVER_BIN) $(ETCD_BIN) $(HELM_BIN)

## cluster-deps-node: also the node components (for a real kubelet; not needed yet).
## At v1.32 the Go proxy lacks k8s.io/csi-translation-lib and k8s.io/cri-client
## v0.32.x, which they need: run it with PODPLUG_KUBE_VERSION=v1.33.13 (docs/operator.md).
cluster-deps-node: cluster-deps
	tools/build-kube.sh --all

test-deps: cluster-deps
