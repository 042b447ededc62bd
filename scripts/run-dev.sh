#!/usr/bin/env bash
# The main job on embedded defaults: the local chains (EVM dev chain on
# 127.0.0.1:8545, Solana localnet on 127.0.0.1:8899), ingest with an
# embedded JetStream server (clients on 127.0.0.1:4222), and a settler, all
# with configs/devnet.yaml. The settler signs with the dev chains' well-known
# LOCAL-ONLY facilitator keys, passed through the environment as a real
# deployment would pass its own. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin data
go build -o bin/ ./cmd/devnet ./cmd/ingest ./cmd/settler
if [ -f localnet/package-lock.json ] && [ ! -d localnet/node_modules ]; then
  (cd localnet && npm ci --no-audit --no-fund --loglevel=error)
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

bin/devnet "$@" | tee data/devnet.txt &
pids+=($!)

wait_port() { # host port seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run-dev: nothing listens on $1:$2 after $3 s" >&2
  return 1
}
wait_port 127.0.0.1 8545 60
wait_port 127.0.0.1 8899 120

bin/ingest -config configs/devnet.yaml &
pids+=($!)
wait_port 127.0.0.1 8402 30
wait_port 127.0.0.1 4222 30

H402_EVM_SIGNER_KEYS=$(awk '/^ *facilitator [0-9]+ /{print $4}' data/devnet.txt | paste -sd, -) \
H402_SOLANA_FEE_PAYER_KEYS=$(awk '/^ *fee payer [0-9]+ /{print $5}' data/devnet.txt | paste -sd, -) \
H402_NATS_URL=nats://127.0.0.1:4222 \
  bin/settler -config configs/devnet.yaml &
pids+=($!)
echo "ingest: http://127.0.0.1:8402 (metrics :9402), settler metrics :9403; accounts in data/devnet.txt"
wait -n "${pids[@]}"
