#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
found=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"${line#*:}")
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name for $t"
  # Minimising a new input may not outlast the run (Go's default is 60s). A
  # run that fails without writing a failing input (the engine's own
  # "context deadline exceeded" when the time runs out as a worker
  # restarts) is run once more; a real finding always writes its input.
  for try in 1 2; do
    out=$(mktemp)
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" -fuzzminimizetime 2s "$pkg" 2>&1 | tee "$out"; then
      rm -f "$out"
      break
    fi
    if [ "$try" = 2 ] || grep -q 'Failing input written to' "$out" || ! grep -q 'context deadline exceeded' "$out"; then
      rm -f "$out"
      exit 1
    fi
    echo "fuzz $pkg $name: the engine timed out without a finding; running it again"
    rm -f "$out"
  done
  found=$((found + 1))
done < <(git ls-files '*_test.go' | xargs grep -nE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' /dev/null | sed -E 's/^([^:]+):[0-9]+:/\1:/')
echo "fuzz: $found targets run"
