#!/usr/bin/env bash
# Installs wrk (Debian package, a C load generator in its own process) when it is missing; make soak uses it.
# Idempotent; needs root (or sudo) to install.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-wrk: wrk is missing and this user cannot install it (not root, no sudo)" >&2
    exit 1
  fi
fi
echo "install-wrk: installing Debian's wrk package" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
command -v wrk >/dev/null
