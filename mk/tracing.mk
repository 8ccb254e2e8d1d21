# The tracing tests' trace backend: Jaeger all-in-one, built from the Go proxy (tools/build-jaeger.sh).
.PHONY: tracing-deps

## tracing-deps: Jaeger all-in-one for test/tracing, built into the cache (skips when present)
tracing-deps:
	@tools/build-jaeger.sh >/dev/null

test-deps: tracing-deps

# The Go counter plugin instrumented with otelgrpc (test/go-otel, its own module so its
# OpenTelemetry and gRPC versions stay apart from test/go's); Go's build cache makes a warm build a no-op.
OTEL_PEER := $(PODPLUG_CACHE)/go-peers/otel-counter
tracing-deps: otel-peer
.PHONY: otel-peer
otel-peer:
	@mkdir -p $(dir $(OTEL_PEER)) && cd test/go-otel && CGO_ENABLED=0 go build -trimpath -o $(OTEL_PEER) .
