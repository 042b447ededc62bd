#!/usr/bin/env bash
# The main job on embedded defaults: the local chains (EVM dev chain on
# 127.0.0.1:8545, Solana localnet on 127.0.0.1:8899), ingest with an
# embedded JetStream server (clients on 127.0.0.1:4222), a settler and a
# watcher (finality, receipts, its ledger in data/ledger.db), all with
# configs/devnet.yaml; then the demo (cmd/h402demo): a demo seller behind
# pkg/seller and a demo buyer (pkg/buyer) paying N requests on both chains,
# with live progress and a summary. The settler signs with the dev chains' well-known
# LOCAL-ONLY facilitator keys, passed through the environment as a real
# deployment would pass its own.
#
# Every run starts from a consistent state: the dev chains start fresh, so
# the dev JetStream store (payments, replay keys, exposure of the previous
# run's chains) is wiped first. Ctrl-C or SIGTERM stops every child process:
# each child runs in its own session and process group (setsid, so that no
# terminal signal or job-control quirk reaches only part of it), and the
# script signals every group, then kills what is left after 15 s.
#
# Environment (all optional): H402_DEV_DATA (default data), H402_EVM_CHAIN_ID
# (default 1337; 84532 for x402 v1 clients), H402_DEV_EVM_PORT (8545),
# H402_DEV_SOLANA_PORT (8899), H402_DEV_INGEST_PORT (8402), H402_DEV_NATS_PORT
# (4222), H402_DEV_INGEST_ADMIN_PORT (9402), H402_DEV_SETTLER_ADMIN_PORT (9403),
# H402_DEV_WATCHER_ADMIN_PORT (9404: metrics and the ledger API),
# H402_DEV_DEMO_PORT (8081: the demo seller and its webhook receiver),
# H402_DEV_DEMO (1: run the demo once ready; 0: none), H402_DEV_DEVNET_ARGS
# (extra flags for cmd/devnet).
#
# Arguments go to cmd/h402demo (`make run ARGS='--payments=20 --exit'`):
# --payments=N, --concurrency=N, --kinds=..., and --exit, the smoke mode:
# once every payment is finalized with its receipt and webhook delivery the
# summary is printed, every process is stopped and the script exits 0
# (non-zero when anything is missing). Without --exit everything keeps
# running until Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${H402_DEV_DATA:-data}
evm_port=${H402_DEV_EVM_PORT:-8545}
sol_port=${H402_DEV_SOLANA_PORT:-8899}
ingest_port=${H402_DEV_INGEST_PORT:-8402}
nats_port=${H402_DEV_NATS_PORT:-4222}
ingest_admin=${H402_DEV_INGEST_ADMIN_PORT:-9402}
settler_admin=${H402_DEV_SETTLER_ADMIN_PORT:-9403}
watcher_admin=${H402_DEV_WATCHER_ADMIN_PORT:-9404}
demo=${H402_DEV_DEMO:-1}
demo_port=${H402_DEV_DEMO_PORT:-8081}
exit_mode=
for a in "$@"; do
  case "$a" in --exit | -exit | --exit=true | -exit=true) exit_mode=1 ;; esac
done
export H402_EVM_CHAIN_ID=${H402_EVM_CHAIN_ID:-1337}
export H402_EVM_RPC=http://127.0.0.1:$evm_port
export H402_SOLANA_RPC=http://127.0.0.1:$sol_port
export H402_NATS_PORT=$nats_port
export H402_NATS_STORE_DIR=$data/jetstream
export H402_INGEST_LISTEN=127.0.0.1:$ingest_port
export H402_INGEST_ADMIN=127.0.0.1:$ingest_admin
export H402_SETTLER_ADMIN=127.0.0.1:$settler_admin
export H402_WATCHER_ADMIN=127.0.0.1:$watcher_admin
export H402_LEDGER=$data/ledger.db
# The demo seller's webhook endpoint (configs/devnet.yaml, watcher.webhooks):
# its receiver is cmd/h402demo, with a fresh secret every run.
export H402_DEV_WEBHOOK_URL=http://127.0.0.1:$demo_port/webhooks
H402_DEV_WEBHOOK_SECRET=whsec_$(head -c 24 /dev/urandom | base64)
export H402_DEV_WEBHOOK_SECRET

say() { echo "run-dev: $*"; }

pgids=()
stopping=
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  trap '' INT TERM
  if [ ${#pgids[@]} -gt 0 ]; then
    say "stopping ${#pgids[@]} process groups…"
    # A group id is its leader's pid; a leader that has not reached setsid
    # yet is signalled by pid.
    for g in "${pgids[@]}"; do kill -TERM -- "-$g" 2>/dev/null || kill -TERM "$g" 2>/dev/null || true; done
    for _ in $(seq 1 150); do # up to 15 s for a graceful stop, then KILL
      alive=
      for g in "${pgids[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    for g in "${pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null || kill -KILL "$g" 2>/dev/null || true; done
    wait 2>/dev/null || true
    say "stopped"
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

mkdir -p bin "$data"
bins="bin/devnet bin/ingest bin/settler bin/watcher bin/h402pay bin/h402ledger bin/h402hooks bin/h402demo"
if [ -x bin/devnet ] && [ -x bin/ingest ] && [ -x bin/settler ] && [ -x bin/watcher ] && [ -x bin/h402demo ]; then
  say "building $bins (up to date in seconds)…"
else
  say "building $bins (the first build compiles go-ethereum and solana-go: a few minutes)…"
fi
# Each background child is started through setsid: not a process group
# leader, it becomes one in place, so $! is its process group id.
setsid go build -v -o bin/ ./cmd/devnet ./cmd/ingest ./cmd/settler ./cmd/watcher ./cmd/h402pay ./cmd/h402ledger ./cmd/h402hooks ./cmd/h402demo >"$data/build.log" 2>&1 &
build=$!
pgids+=("$build")
n=0
while kill -0 "$build" 2>/dev/null; do
  sleep 5
  c=$(wc -l <"$data/build.log")
  if [ "$c" != "$n" ]; then n=$c; say "  … $n packages compiled so far (now: $(tail -n 1 "$data/build.log"))"; fi
done
if ! wait "$build"; then
  cat "$data/build.log" >&2
  say "build failed" >&2
  exit 1
fi
pgids=()
say "built"

if [ -f localnet/package-lock.json ] && [ ! -d localnet/node_modules ]; then
  say "installing the Solana localnet's npm packages…"
  (cd localnet && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -d "$data/jetstream" ] || [ -f "$data/ledger.db" ]; then
  say "wiping $data/jetstream and $data/ledger.db: the dev chains start fresh on every run, so the last run's payments, replay keys, exposure and ledger would be wrong"
  rm -rf "$data/jetstream" "$data/ledger.db" "$data/demo"
fi

wait_port() { # host port seconds what
  say "waiting for $4 on $1:$2…"
  for _ in $(seq 1 $(( $3 * 10 ))); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    for g in "${pgids[@]}"; do
      if ! kill -0 "$g" 2>/dev/null; then say "a process exited while waiting for $4" >&2; return 1; fi
    done
    sleep 0.1
  done
  say "nothing listens on $1:$2 after $3 s ($4)" >&2
  return 1
}

say "starting the dev chains (EVM chain id $H402_EVM_CHAIN_ID on :$evm_port, Solana localnet on :$sol_port)…"
setsid bash -c 'bin/devnet "$@" | tee "$0"' "$data/devnet.txt" \
  -evm.port "$evm_port" -evm.chain-id "$H402_EVM_CHAIN_ID" -solana.port "$sol_port" ${H402_DEV_DEVNET_ARGS:-} &
pgids+=("$!") # one group: bash, devnet (and its node localnet) and tee
wait_port 127.0.0.1 "$evm_port" 60 "the EVM dev chain"
wait_port 127.0.0.1 "$sol_port" 120 "the Solana localnet"

for _ in $(seq 1 100); do # the summary with the keys follows the chains' start
  grep -q '^ *facilitator [0-9]' "$data/devnet.txt" 2>/dev/null && break
  sleep 0.1
done

say "starting ingest (embedded JetStream in $data/jetstream on :$nats_port)…"
setsid bin/ingest -config configs/devnet.yaml &
pgids+=("$!")
wait_port 127.0.0.1 "$ingest_port" 30 "ingest"
wait_port 127.0.0.1 "$nats_port" 30 "JetStream"

say "starting the settler…"
H402_EVM_SIGNER_KEYS=$(awk '/^ *facilitator [0-9]+ /{print $4}' "$data/devnet.txt" | paste -sd, -) \
H402_SOLANA_FEE_PAYER_KEYS=$(awk '/^ *fee payer [0-9]+ /{print $5}' "$data/devnet.txt" | paste -sd, -) \
H402_NATS_URL=nats://127.0.0.1:$nats_port \
  setsid bin/settler -config configs/devnet.yaml &
pgids+=("$!")
wait_port 127.0.0.1 "$settler_admin" 30 "the settler"

say "starting the watcher (finality, receipts; ledger in $H402_LEDGER)…"
H402_NATS_URL=nats://127.0.0.1:$nats_port setsid bin/watcher -config configs/devnet.yaml &
pgids+=("$!")
wait_port 127.0.0.1 "$watcher_admin" 30 "the watcher"

say "ready: ingest http://127.0.0.1:$ingest_port (metrics http://127.0.0.1:$ingest_admin/metrics), settler metrics http://127.0.0.1:$settler_admin/metrics,"
say "       watcher metrics http://127.0.0.1:$watcher_admin/metrics and ledger http://127.0.0.1:$watcher_admin/ledger/ (bin/h402ledger --url http://127.0.0.1:$watcher_admin),"
say "       EVM RPC $H402_EVM_RPC (chain id $H402_EVM_CHAIN_ID), Solana RPC $H402_SOLANA_RPC; accounts in $data/devnet.txt. Ctrl-C stops all."

if [ "$demo" = 1 ]; then
  evm_seller=0x00000000000000000000000000000000000de110
  say "demo: a seller behind pkg/seller on http://127.0.0.1:$demo_port and a buyer (pkg/buyer, payer 0 of both chains) paying"
  say "      EVM EIP-3009 (h402 and x402 v2) and Solana signTransaction (buyer's fee; facilitator fee payer); progress every second:"
  H402_DEMO_EVM_KEY=$(awk '/^ *payer 0 +0x/{print $4; exit}' "$data/devnet.txt") \
  H402_DEMO_SOLANA_KEY=$(awk '/^ *payer 0 / && $3 !~ /^0x/ {print $4; exit}' "$data/devnet.txt") \
  H402_DEMO_WEBHOOK_SECRET=$H402_DEV_WEBHOOK_SECRET \
    setsid bin/h402demo -config configs/devnet.yaml -facilitator "http://127.0.0.1:$ingest_port" \
      -ledger "http://127.0.0.1:$watcher_admin" -nats "nats://127.0.0.1:$nats_port" -listen "127.0.0.1:$demo_port" \
      -state-dir "$data/demo" \
      -links "ledger: bin/h402ledger --url http://127.0.0.1:$watcher_admin receipts --payto $evm_seller   (or totals, payment <id>, dump)|ledger API: http://127.0.0.1:$watcher_admin/ledger/gas, /ledger/sellers/$evm_seller/totals|status page: http://127.0.0.1:$watcher_admin/status|metrics: http://127.0.0.1:$ingest_admin/metrics (ingest), http://127.0.0.1:$settler_admin/metrics (settler), http://127.0.0.1:$watcher_admin/metrics (watcher)|webhook log: bin/h402hooks --url http://127.0.0.1:$watcher_admin log demo-seller|a payment: curl -s http://127.0.0.1:$ingest_port/payments/<paymentId>" \
      "$@" &
  demo_pid=$!
  pgids+=("$demo_pid")
  if [ -n "$exit_mode" ]; then
    set +e
    wait "$demo_pid"
    status=$?
    set -e
    if [ "$status" = 0 ]; then
      say "smoke run complete: every payment finalized with its receipt and webhook delivery; stopping"
    else
      say "smoke run FAILED (h402demo exited $status); stopping" >&2
    fi
    exit "$status"
  fi
fi
set +e
wait -n
status=$?
say "a process exited (status $status); stopping the others"
exit "$status"
