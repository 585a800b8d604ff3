#!/usr/bin/env bash
# Installs Debian's chromium when missing; the dashboard's browser test (test/integration/dashboard.test.ts) drives it
# with playwright-core. Never `npx playwright install` (it downloads a browser). Idempotent; needs root (or sudo).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
"$(dirname "$0")/apt-install.sh" install-chromium chromium
command -v chromium >/dev/null
echo "install-chromium: $(chromium --version 2>&1 | head -1)" >&2
