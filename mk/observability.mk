# The observability tests' Prometheus and promtool (Debian's package; tools/install-prometheus.sh).
.PHONY: prometheus-deps

## prometheus-deps: Prometheus and promtool for test/observability (apt-get, as root; idempotent)
prometheus-deps:
	@tools/install-prometheus.sh

test-deps: prometheus-deps
