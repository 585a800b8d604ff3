#!/usr/bin/env bash
# Installs what the manifest-serving bench drives when it is missing: wrk (a C load generator that runs in its own
# process) and nginx-light (the caching tier in front of `ringmaster serve`). Both are Debian packages.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bench/manifest/install.sh: ${missing[*]} missing and this user cannot install (not root, no sudo)" >&2
    exit 1
  fi
fi
echo "bench/manifest/install.sh: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx-light's postinst may try to start the system service; policy-rc.d stops that where it exists, and the bench
# never uses the system service (it runs `nginx -c FILE -p DIR` on loopback as its own child process).
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v wrk >/dev/null
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
