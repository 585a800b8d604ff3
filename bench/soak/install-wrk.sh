#!/usr/bin/env bash
# Installs wrk (Debian package, a C load generator in its own process) when it is missing; make soak uses it.
# Idempotent; needs root (or sudo) to install.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
"$(dirname "$0")/../../scripts/apt-install.sh" install-wrk wrk
command -v wrk >/dev/null
