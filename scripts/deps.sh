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
# Headless Chromium (Debian's package) for the status page's browser test,
# e2e/status_test.go, which fails under CI=true without it. Skipped when a
# chromium is on PATH; installed only as root with apt (CI: fresh Debian 12).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing chromium (apt) for e2e/status_test.go" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  else
    echo "deps: chromium is missing (apt-get install chromium); e2e TestStatusPageInChromium skips without it (fails under CI=true)" >&2
  fi
fi
