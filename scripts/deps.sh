#!/usr/bin/env bash
# Installs what the tests need on a fresh machine: Go modules, staticcheck,
# and the npm packages of the contracts, the Solana localnet and the real x402
# clients the e2e tests drive (lockfiles pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
$GO mod download
gobin=$($GO env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
  $GO install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
command -v node >/dev/null || { echo "deps: node is required (Node.js 20+) for the contracts, the Solana localnet and the e2e x402 clients" >&2; exit 1; }
command -v npm >/dev/null || { echo "deps: npm is required for the contracts and the Solana localnet" >&2; exit 1; }
for dir in contracts localnet e2e/x402js; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
