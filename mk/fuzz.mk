# Coverage-guided fuzzing with jazzer.js (@jazzer.js/core, devDependency): its native addon needs
# glibc >= 2.38, which tools/fetch-fuzz-libc.sh unpacks from Debian 13 into the cache (network at
# install time only); tools/jazzer.sh runs the fuzzer's node on it. Targets: test/fuzz/jazzer/.
FUZZ_LIBC := $(PODPLUG_CACHE)/fuzz-libc/$(PODPLUG_FUZZ_LIBC_SUITE)-$(PODPLUG_FUZZ_LIBC6_VERSION)-$(PODPLUG_FUZZ_GCC_VERSION)/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2

.PHONY: fuzz fuzz-deps fuzz-properties

$(FUZZ_LIBC):
	tools/fetch-fuzz-libc.sh

## fuzz-deps: the C library the coverage-guided fuzzer needs (make test runs a short fuzz of each target)
fuzz-deps: $(FUZZ_LIBC)

test-deps: fuzz-deps

## fuzz: PODPLUG_JAZZER_RUNS inputs (default 1,000,000) of each jazzer.js target; PODPLUG_FUZZ_MERGE=1 merges new coverage into test/fuzz/corpus/
fuzz: $(NODE_DEPS) fuzz-deps
	PODPLUG_JAZZER_RUNS=$${PODPLUG_JAZZER_RUNS:-1000000} node test/fuzz/jazzer/fuzz.ts

## fuzz-properties: the fast-check properties (test/transport/fuzz.test.ts, test/protocol/fuzz.test.ts, test/fuzz/manifests.test.ts) with PODPLUG_FUZZ_RUNS inputs each (default 1,000,000; make test runs 300)
fuzz-properties: $(NODE_DEPS)
	PODPLUG_FUZZ_RUNS=$${PODPLUG_FUZZ_RUNS:-1000000} mocha --timeout 0 test/transport/fuzz.test.ts test/protocol/fuzz.test.ts test/fuzz/manifests.test.ts
