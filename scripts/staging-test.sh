#!/usr/bin/env bash
# `make staging-test`: runs docker-compose.yml for real on this machine and
# checks it end to end.
#  1. installs what is missing (idempotent, quick when present): Debian's
#     docker.io (dockerd), mmdebstrap, prometheus; the Compose v2 plugin,
#     built from its Go module into ~/.docker/cli-plugins/docker-compose
#  2. starts dockerd when none answers (and stops it at the end only then)
#  3. builds the images with no registry: a Debian base from mmdebstrap
#     (docker import, cached), the build context of scripts/staging-context.sh
#  4. `docker compose up -d --wait`: 3 NATS servers, devnet, ingest x2,
#     settler x2, watcher x2, prometheus
#  5. pays 200 EIP-3009 payments, 100 through each ingest replica
#     (cmd/h402load on their 127.0.0.1 ports), waits until both watchers'
#     ledgers hold 200 finalized payments of the seller, none failed
#  6. checks that Prometheus has every target up (its API on 127.0.0.1)
#  7. kills one NATS server and one settler (docker kill), pays 50 more and
#     waits until both ledgers hold 250 finalized payments
#  8. tears everything down (down -v), always, and prints the wall time.
# Every step is bounded in time. Traffic goes to 127.0.0.1 and the compose
# network only. Environment: H402_STAGING_KEEP=1 leaves the stack up;
# H402_STAGING_TIMEOUT (seconds, default 300) bounds each wait.
set -euo pipefail
cd "$(dirname "$0")/.."
began=$(date +%s)
say() { echo "staging-test: $*"; }
fail() { echo "staging-test: FAIL: $*" >&2; exit 1; }

compose_version=v2.40.3
wait_s=${H402_STAGING_TIMEOUT:-300}
work=build/staging
mkdir -p "$work"
export COMPOSE_PROJECT_NAME=h402-staging
export DOCKER_BUILDKIT=0 # the engine's classic builder: no buildx plugin needed
export H402_STAGING_CONTEXT=$work/context
ingest_a=127.0.0.1:${H402_STAGING_INGEST_A_PORT:-28402}
ingest_b=127.0.0.1:${H402_STAGING_INGEST_B_PORT:-28412}
watcher_a=127.0.0.1:${H402_STAGING_WATCHER_A_PORT:-28404}
watcher_b=127.0.0.1:${H402_STAGING_WATCHER_B_PORT:-28414}
prom=127.0.0.1:${H402_STAGING_PROMETHEUS_PORT:-29090}

# 1. What is missing.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v prometheus >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt)…"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v docker >/dev/null || fail "no docker CLI (Debian's docker.io provides one)"
if ! docker compose version >/dev/null 2>&1; then
  say "building the Compose plugin $compose_version from its Go module (a few minutes, once)…"
  src=$(mktemp -d)
  dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$compose_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || fail "go mod download github.com/docker/compose/v2@$compose_version gave no directory"
  cp -r "$dir/." "$src" && chmod -R u+w "$src"
  mkdir -p ~/.docker/cli-plugins
  # Inside its own module directory: `go install` refuses a module whose go.mod has exclude directives.
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod timeout 2400 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
    -o ~/.docker/cli-plugins/docker-compose ./cmd)
  rm -rf "$src"
  docker compose version >/dev/null || fail "the built Compose plugin does not run"
fi

# 2. The engine.
started_dockerd=
dockerd_pid=
cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if docker info >/dev/null 2>&1; then
    timeout 60 docker compose logs --no-color >"$work/compose.log" 2>&1 || true
  fi
  if [ "$rc" -ne 0 ] && docker info >/dev/null 2>&1; then
    say "state at failure (all logs in $work/compose.log):"
    timeout 60 docker compose ps -a || true
    timeout 60 docker compose logs --no-color --tail 30 || true
  fi
  if [ "${H402_STAGING_KEEP:-0}" = 1 ]; then
    say "H402_STAGING_KEEP=1: the stack stays up (docker compose -p $COMPOSE_PROJECT_NAME down -v)"
  elif docker info >/dev/null 2>&1; then
    say "tearing down…"
    timeout 120 docker compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || say "down failed"
  fi
  if [ -n "$started_dockerd" ] && [ "${H402_STAGING_KEEP:-0}" != 1 ]; then
    say "stopping the dockerd this script started (pid $dockerd_pid)…"
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  say "wall time $(( $(date +%s) - began )) s ($([ "$rc" -eq 0 ] && echo PASS || echo FAIL))"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log in $work/dockerd.log)…"
  setsid dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  started_dockerd=1
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd did not answer within 30 s"; }
fi
say "engine $(docker version -f '{{.Server.Version}}' 2>/dev/null), storage $(docker info -f '{{.Driver}}' 2>/dev/null), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"

# 3. Images.
base=h402-staging/bookworm:local
if ! docker image inspect "$base" >/dev/null 2>&1; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/h402-staging # kept across clones
  mkdir -p "$cache"
  if [ ! -s "$cache/base.tar" ]; then
    say "making the Debian base image with mmdebstrap (bookworm, from this machine's apt sources)…"
    timeout 1500 mmdebstrap --quiet --variant=apt --include=ca-certificates bookworm "$cache/base.tar.tmp"
    mv "$cache/base.tar.tmp" "$cache/base.tar"
  fi
  docker import "$cache/base.tar" "$base" >/dev/null
fi
timeout 1800 scripts/staging-context.sh
pw() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export H402_NATS_INGEST_PASSWORD=$(pw) H402_NATS_SETTLER_PASSWORD=$(pw) H402_NATS_WATCHER_PASSWORD=$(pw) H402_NATS_ADMIN_PASSWORD=$(pw)
# Placeholders until the dev chains print their keys: compose checks every variable on each call.
export H402_EVM_SIGNER_KEYS=${H402_EVM_SIGNER_KEYS:-unset} H402_SOLANA_FEE_PAYER_KEYS=${H402_SOLANA_FEE_PAYER_KEYS:-unset}
say "building the images (log in $work/build.log)…"
# One service per image: the others name the same images (the classic
# builder would send the context once per service).
timeout 900 docker compose build nats-a devnet ingest-a prometheus >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; fail "building the images"; }
CGO_ENABLED=0 go build -o "$work/h402load" ./cmd/h402load

# 4. Up.
timeout 60 docker compose down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true # a previous run's leftovers
say "starting the dev chains…"
timeout "$wait_s" docker compose up -d --wait --wait-timeout "$wait_s" devnet
logs=$(docker compose logs --no-color --no-log-prefix devnet)
H402_EVM_SIGNER_KEYS=$(awk '/^ *facilitator [0-9]+ /{print $4}' <<<"$logs" | paste -sd, -)
H402_SOLANA_FEE_PAYER_KEYS=$(awk '/^ *fee payer [0-9]+ /{print $5}' <<<"$logs" | paste -sd, -)
[ -n "$H402_EVM_SIGNER_KEYS" ] && [ -n "$H402_SOLANA_FEE_PAYER_KEYS" ] || fail "no dev keys in the devnet log"
export H402_EVM_SIGNER_KEYS H402_SOLANA_FEE_PAYER_KEYS
say "starting NATS x3, ingest x2, settler x2, watcher x2, prometheus…"
t0=$(date +%s)
# Each process waits for JetStream at start-up (pkg/eventlog StartupWait,
# 2 min) while the first ingest creates every stream and bucket with 3
# replicas. A service that still exits (its restart policy starts it again)
# makes compose give up on what depends on it: `up` again, at most 3 times.
for try in 1 2 3; do
  if timeout "$wait_s" docker compose up -d --wait --wait-timeout "$wait_s"; then break; fi
  [ "$try" -lt 3 ] || fail "the stack did not come up healthy"
  say "not all healthy yet (attempt $try; a service restarted): up again…"
done
say "all healthy in $(( $(date +%s) - t0 )) s"
timeout 30 docker compose ps --format '{{.Service}}\t{{.Status}}'

# 5. Payments through both ingest replicas.
pay() { # url n: n payments accepted by that ingest replica. A 503 while
  # NATS fails over is what ingest answers instead of a refusal (nothing was
  # accepted); the unaccepted rest is sent again, up to 5 rounds.
  local want=$2 got=0 out n m round
  for round in 1 2 3 4 5; do
    out=$(timeout 120 "$work/h402load" -config configs/devnet.yaml -url "http://$1" -admin "" -pay-to "$seller" -n $((want - got)) -c 8 -duration 90s -json) \
      || fail "h402load against $1: $out"
    n=$(grep -o '"Accepted":[0-9]*' <<<"$out" | cut -d: -f2)
    m=$(grep -o '"Sent":[0-9]*' <<<"$out" | cut -d: -f2)
    got=$((got + ${n:-0}))
    sent=$((sent + ${m:-0}))
    [ "$got" -ge "$want" ] && break
    say "  round $round against $1: $got of $want accepted so far: $out"
    sleep 1
  done
  [ "$got" -eq "$want" ] || fail "h402load against $1: $got accepted after 5 rounds, want $want"
  say "  $want accepted by $1"
}
seller=0x0000000000000000000000000000000000057a9e # receives every staging payment
sent=0 # payments sent in all; a 503 whose publish ingest could not confirm may still settle
finalized() { # watcher-addr: "finalized failed" counts of the seller in that watcher's ledger
  curl -fsS --max-time 5 "http://$1/ledger/sellers/$seller/totals" 2>/dev/null |
    awk -v RS=, -F: '/"settledCount"/{s+=$2} /"failedCount"/{f+=$2} END{print s+0, f+0}'
}
wait_final() { # n: every accepted payment finalized in both ledgers, none failed, the ledgers equal
  local t0=$(date +%s) a b
  while :; do
    a=$(finalized "$watcher_a"); b=$(finalized "$watcher_b")
    if [ "${a% *}" -ge "$1" ] && [ "${b% *}" -ge "$1" ]; then break; fi
    [ $(( $(date +%s) - t0 )) -lt "$wait_s" ] || fail "after ${wait_s} s: watcher-a ledger finalized/failed $a, watcher-b $b; want $1 finalized"
    sleep 1
  done
  sleep 3 # a payment answered 503 may still land (at most $sent in all): give it time to show
  for _ in $(seq 1 20); do # both ledgers apply the same streams: they agree once caught up
    a=$(finalized "$watcher_a"); b=$(finalized "$watcher_b")
    [ "$a" = "$b" ] && break
    sleep 0.5
  done
  [ "$a" = "$b" ] && [ "${a#* }" = 0 ] && [ "${a% *}" -ge "$1" ] && [ "${a% *}" -le "$sent" ] ||
    fail "ledgers: watcher-a finalized/failed $a, watcher-b $b; want equal, $1..$sent finalized, 0 failed"
  say "  both watchers' ledgers: ${a% *} finalized ($1 accepted, $sent sent), 0 failed, in $(( $(date +%s) - t0 )) s"
}
say "paying 200 payments, 100 through each ingest replica…"
t0=$(date +%s)
pay "$ingest_a" 100
pay "$ingest_b" 100
wait_final 200
say "200 payments accepted and finalized in $(( $(date +%s) - t0 )) s"

# 6. Prometheus.
say "checking that Prometheus has every target up…"
t0=$(date +%s)
while :; do
  targets=$(curl -fsS --max-time 5 "http://$prom/api/v1/targets?state=active" 2>/dev/null || true)
  up=$(grep -o '"health":"up"' <<<"$targets" | wc -l)
  total=$(grep -o '"health":"[a-z]*"' <<<"$targets" | wc -l)
  [ "$total" -eq 7 ] && [ "$up" -eq 7 ] && break
  [ $(( $(date +%s) - t0 )) -lt 60 ] || fail "Prometheus: $up of $total targets up, want 7 of 7: $targets"
  sleep 1
done
say "  7 of 7 targets up (ingest x2, settler x2, watcher x2, prometheus)"

# 7. Faults: one NATS server and one settler die; payments still finalize.
say "killing nats-b and settler-a (docker kill)…"
docker compose kill nats-b settler-a >/dev/null
say "paying 50 more, 25 through each ingest replica…"
t0=$(date +%s)
pay "$ingest_a" 25
pay "$ingest_b" 25
wait_final 250
say "50 payments finalized with one NATS server and one settler down, in $(( $(date +%s) - t0 )) s"
say "PASS"
