# cert-manager's controller and cainjector (and its CRDs), which
# test/operator/cert-manager.test.ts runs against the test apiserver, built
# from the Go module proxy into $(PODPLUG_CACHE)/cert-manager/<version>
# (tools/build-cert-manager.sh).
.PHONY: cert-manager

cert-manager:
	@tools/build-cert-manager.sh >/dev/null

test-deps: cert-manager
