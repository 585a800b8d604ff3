#!/usr/bin/env bash
# Installs the real Prometheus server and promtool from Debian when they are missing.
# Integration tests and `make demo-live` use them. Idempotent; needs root (or sudo) to install.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-prometheus: prometheus is missing and this user cannot install it (not root, no sudo)" >&2
    exit 1
  fi
fi
echo "install-prometheus: installing Debian's prometheus package" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package's service does not start here (no systemd); tests start their own server on loopback.
command -v prometheus >/dev/null && command -v promtool >/dev/null
echo "install-prometheus: $(prometheus --version 2>&1 | head -1)" >&2
