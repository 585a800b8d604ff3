#!/usr/bin/env bash
# Installs Debian packages for the project's scripts: `scripts/apt-install.sh WHO PKG...` (WHO names the caller in
# its messages). Root installs directly, another user through sudo; neither: one line and exit 1.
set -euo pipefail
who="$1"
shift
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$who: $* missing and this user cannot install it (not root, no sudo)" >&2
    exit 1
  fi
fi
echo "$who: installing Debian packages: $*" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
