#!/usr/bin/env bash
# Assembles the build context of docker-compose.yml's images
# (deploy/staging/Dockerfile) in build/staging/context, outside Docker: no
# image registry is needed (golang: images cannot be pulled here).
#   bin/        static Go binaries (CGO_ENABLED=0): ingest, settler, watcher,
#               devnet, h402health, and nats-server from its Go module at the
#               version go.mod requires
#   localnet/   the Solana localnet with its npm packages (npm ci if missing)
#   node, npm/  this machine's Node.js (>= 20) and npm
#   prometheus  this machine's prometheus (Debian's package; built against glibc)
#   certs/      this machine's CA certificates
# Needs go, node, npm and prometheus on PATH (scripts/staging-test.sh
# installs what is missing). Rebuilding is quick: go's build cache.
# H402_STAGING_PREBUILT=1: bin/ is already there (deploy/staging/Dockerfile.gobuild).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${H402_STAGING_CONTEXT:-build/staging/context}
say() { echo "staging-context: $*"; }

mkdir -p "$out/bin" "$out/certs"
rm -rf "$out/empty" && mkdir -p "$out/empty"
cp deploy/staging/Dockerfile "$out/Dockerfile"

if [ "${H402_STAGING_PREBUILT:-0}" = 1 ]; then # built elsewhere (deploy/staging/Dockerfile.gobuild)
  for b in ingest settler watcher devnet h402health nats-server; do
    [ -x "$out/bin/$b" ] || { echo "staging-context: H402_STAGING_PREBUILT=1 but $out/bin/$b is missing" >&2; exit 1; }
  done
else
  say "building static Go binaries into $out/bin (the first build takes a few minutes)…"
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/bin/" \
    ./cmd/ingest ./cmd/settler ./cmd/watcher ./cmd/devnet ./cmd/h402health
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/bin/nats-server" github.com/nats-io/nats-server/v2
fi

node=$(command -v node)
major=$("$node" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "staging-context: node $("$node" --version) is too old: the localnet needs Node.js >= 20" >&2; exit 1; fi
npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
install -m 0755 "$(readlink -f "$node")" "$out/node"
rm -rf "$out/npm" && cp -a "$npmdir" "$out/npm"
install -m 0755 "$(readlink -f "$(command -v prometheus)")" "$out/prometheus"
cp /etc/ssl/certs/ca-certificates.crt "$out/certs/ca-certificates.crt"

if [ ! -f localnet/node_modules/litesvm/package.json ]; then
  say "installing the localnet's npm packages…"
  (cd localnet && npm ci --no-audit --no-fund --loglevel=error)
fi
say "copying the localnet…"
rm -rf "$out/localnet" && mkdir -p "$out/localnet"
# -L: node_modules may be a symbolic link (a git worktree sharing another's).
for f in localnet/*; do cp -RL "$f" "$out/localnet/"; done
say "ready: $out"
