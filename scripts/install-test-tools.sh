#!/usr/bin/env bash
# Installs Debian's tmux and zsh when missing: the watch display is tested in a real 80x24 tmux terminal
# (test/integration/ringctl-exit-codes.test.ts) and the zsh completion script with zsh itself
# (test/integration/ringctl-completion.test.ts). Idempotent; needs root (or sudo).
set -euo pipefail
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
[ ${#missing[@]} -eq 0 ] && exit 0
"$(dirname "$0")/apt-install.sh" install-test-tools "${missing[@]}"
command -v tmux >/dev/null && command -v zsh >/dev/null
