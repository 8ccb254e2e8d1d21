# The test cluster's binaries (kube-apiserver, etcd, helm), built or fetched on
# first use into $(PODPLUG_CACHE), keyed by version; see docs/operator.md.
# Stamp files live in the cache, so a warm cache makes these no-ops.

KUBE_APISERVER_BIN := $(PODPLUG_CACHE)/kube/$(PODPLUG_KUBE_VERSION)/kube-apiserver
ETCD_BIN := $(PODPLUG_CACHE)/etcd/$(PODPLUG_ETCD_VERSION)/etcd
HELM_BIN := $(PODPLUG_CACHE)/helm/$(PODPLUG_HELM_VERSION)/helm

.PHONY: cluster-deps cluster-deps-node

$(KUBE_APISERVER_BIN):
	tools/build-kube.sh

$(ETCD_BIN):
	tools/build-etcd.sh

$(HELM_BIN):
	tools/fetch-helm.sh

## cluster-deps: what the operator tests need (kube-apiserver, etcd, helm)
cluster-deps: $(KUBE_APISERVER_BIN) $(ETCD_BIN) $(HELM_BIN)

## cluster-deps-node: also the node components (for a real kubelet).
cluster-deps-node: cluster-deps
	tools/build-kube.sh --all

test-deps: cluster-deps
