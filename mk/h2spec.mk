# h2spec, the HTTP/2 conformance suite the transport tests run against the
# default engine's server (test/transport/h2spec.test.ts), built from the Go
# module proxy into $(PODPLUG_CACHE)/h2spec/<version> (tools/build-h2spec.sh).
.PHONY: h2spec

h2spec:
	@tools/build-h2spec.sh >/dev/null

test-deps: h2spec
