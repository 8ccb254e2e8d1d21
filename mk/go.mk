# Go peers of the interop tests and benchmarks: go-plugin's own examples and
# the programs in test/go, built into $(PODPLUG_CACHE)/go-peers/ (see
# tools/build-go-peers.sh) before the tests and the benchmarks
# (bench/go-peers.ts). The test/interop tests also run sdk/go's go test.
.PHONY: go-peers go-test

go-peers:
	@tools/build-go-peers.sh >/dev/null

test-deps: go-peers
bench: go-peers

## interop-oldest: test/interop against the oldest go-plugin podplug claims (mk/versions.env)
.PHONY: interop-oldest
interop-oldest: $(NODE_DEPS)
	GO_PLUGIN_VERSION=$(PODPLUG_GO_PLUGIN_OLDEST) mocha 'test/interop/*.test.ts'

## go-test: the Go packages' own tests (sdk/go), and vet of test/go
go-test:
	cd sdk/go && go test ./...
	cd test/go && go vet ./... && go vet -tags counter ./...
