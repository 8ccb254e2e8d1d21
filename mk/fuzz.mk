## fuzz: the parser fuzz targets (test/transport/fuzz.test.ts, test/protocol/fuzz.test.ts, test/fuzz/manifests.test.ts) with PODPLUG_FUZZ_RUNS inputs each (default 1,000,000; make test runs 300)
.PHONY: fuzz
fuzz: $(NODE_DEPS)
	PODPLUG_FUZZ_RUNS=$${PODPLUG_FUZZ_RUNS:-1000000} mocha --timeout 0 test/transport/fuzz.test.ts test/protocol/fuzz.test.ts test/fuzz/manifests.test.ts
