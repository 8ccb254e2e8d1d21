#!/usr/bin/env bash
# Installs Debian's Prometheus (the server and promtool) for the observability
# tests: a real Prometheus scrapes podplug and evaluates its rules. Idempotent;
# needs root only when something is missing. The package's own service is never
# started (the tests start their own Prometheus on loopback); see docs/observability.md.
set -euo pipefail
exec "$(dirname "$0")/apt-install.sh" install-prometheus.sh prometheus
