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
# nginx-light's postinst may try to start the system service; the bench never uses it (it runs `nginx -c FILE -p DIR`
# on loopback as its own child process).
"$(dirname "$0")/../../scripts/apt-install.sh" bench/manifest/install.sh "${missing[@]}"
command -v wrk >/dev/null
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
