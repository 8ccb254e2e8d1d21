# podplug-launcher and podplug-probe (sdk/launcher, docs/launcher.md), built
# static into $(PODPLUG_CACHE)/launcher/ (tools/build-launcher.sh) before the
# tests (test/launcher) and the benchmarks (bench/launcher.ts).
.PHONY: launcher launcher-vet

launcher:
	@tools/build-launcher.sh >/dev/null

test-deps: launcher
bench: launcher

## launcher-vet: go vet of the launcher module
launcher-vet:
	cd sdk/launcher && go vet ./...
