# The observability tests' Prometheus and promtool (Debian's package; tools/install-prometheus.sh).
.PHONY: prometheus-deps

## prometheus-deps: Prometheus and promtool for test/observability (apt-get, as root; idempotent)
prometheus-deps:
	@tools/install-prometheus.sh

test-deps: prometheus-deps

## prometheus-sd: Prometheus with Kubernetes service discovery, built from the Go proxy into the cache (skips when present)
.PHONY: prometheus-sd
prometheus-sd:
	@tools/build-prometheus.sh >/dev/null

test-deps: prometheus-sd

PLOT_VENV := $(PODPLUG_CACHE)/plot-venv
.PHONY: dashboard-picture
## dashboard-picture: docs/images/dashboard.png from a real run of the demo, the operator and Prometheus (matplotlib in a venv in the cache)
dashboard-picture: $(NODE_DEPS) prometheus-deps cluster-deps
	@test -x $(PLOT_VENV)/bin/python || (python3 -m venv $(PLOT_VENV) && $(PLOT_VENV)/bin/pip install -q matplotlib==3.9.2)
	PODPLUG_PLOT_PYTHON=$(PLOT_VENV)/bin/python node tools/dashboard/picture.ts
