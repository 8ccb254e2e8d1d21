# podplug — the two commands: `make demo` (installs, then runs the local demo)
# and `make test` (installs, builds what the tests need, runs every test).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# Binaries built for tests (Go peers, kube-apiserver, etcd, helm) live here, keyed by version.
export PODPLUG_CACHE ?= $(HOME)/.cache/podplug
# Tool versions: one file, shared with tools/*.sh and the test harness.
include mk/versions.env
export PODPLUG_KUBE_VERSION PODPLUG_ETCD_VERSION PODPLUG_HELM_VERSION PODPLUG_HELM_LAYER_VERSION PODPLUG_NODE22_VERSION

NODE_DEPS := node_modules/.installed

.PHONY: all install build typecheck lint format proto test test-deps bench demo clean

all: build

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_DEPS)

## proto: regenerate src/gen from proto/ (a test fails when src/gen is stale)
proto: $(NODE_DEPS)
	tools/gen-proto.sh src/gen

typecheck: $(NODE_DEPS)
	tsc -p tsconfig.json --noEmit

build: $(NODE_DEPS)
	tsc -p tsconfig.json

## lint: Biome's formatter check and linter (biome.json); a finding fails the build
lint: $(NODE_DEPS)
	biome ci --error-on-warnings --reporter=summary .

## format: rewrite the tree in the house format and apply safe lint fixes
format: $(NODE_DEPS)
	biome check --write .

# test-deps gathers what the tests need built first; mk/*.mk files add to it.
test-deps: $(NODE_DEPS)

test: lint test-deps build
	mocha 'test/**/*.test.ts'

# The benchmarks run what the tests run (Go peers, images, the real node): the same prerequisites.
bench: test-deps
	node bench/run.ts

demo: $(NODE_DEPS)
	node src/cli/main.ts run -f examples/demo

clean:
	rm -rf dist

# Each part's own targets (Go peers, the test cluster, ...).
include $(wildcard mk/*.mk)
