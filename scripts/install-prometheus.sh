#!/usr/bin/env bash
# Installs the real Prometheus server and promtool from Debian when they are missing.
# Integration tests and `make demo-live` use them. Idempotent; needs root (or sudo) to install.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" install-prometheus prometheus
# The package's service does not start here (no systemd); tests start their own server on loopback.
command -v prometheus >/dev/null && command -v promtool >/dev/null
echo "install-prometheus: $(prometheus --version 2>&1 | head -1)" >&2
