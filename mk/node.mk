# The other Node line the SDKs declare (package.json engines), for
# test/repo/node-versions.test.ts; Node 24 itself is the project's own `node`.
NODE22_BIN := $(PODPLUG_CACHE)/node/$(PODPLUG_NODE22_VERSION)/node_modules/node/bin/node

$(NODE22_BIN):
	tools/fetch-node.sh $(PODPLUG_NODE22_VERSION)

test-deps: $(NODE22_BIN)
