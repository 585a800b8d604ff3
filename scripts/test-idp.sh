#!/usr/bin/env bash
# The loopback test OpenID Connect provider (test/helpers/oidc-provider.ts), for trying OIDC by hand:
# discovery, JWKS, device authorization, token endpoint; signs with an RSA key generated at start.
#
#   scripts/test-idp.sh [--port 9555] [--audience ringmaster] [--client-id ringctl] [--ttl 3600]
#
# It prints its issuer URL and serves until Ctrl-C (or SIGTERM). Approve a `ringctl login` device code with
#   curl -d user_code=XXXX-XXXX -d sub=alice -d groups=rm-deployers http://127.0.0.1:9555/device
# and mint a token directly with
#   curl -d sub=bob -d groups=rm-approvers http://127.0.0.1:9555/mint
# Never use it for anything but tests: it approves whoever asks.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/test-idp
node node_modules/typescript/bin/tsc --outDir "$out" --rootDir test/helpers --module commonjs --target ES2022 \
  --moduleResolution node --esModuleInterop --skipLibCheck --strict --types node test/helpers/oidc-provider.ts
exec node "$out/oidc-provider.js" "$@"
