#!/usr/bin/env bash
# Rebuilds artifacts and bindings into a temporary directory and fails if they
# differ from the committed ones. CI runs this; it may run `npm ci`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$here/gen.sh" "$tmp"

status=0
diff -ru "$root/contracts/artifacts" "$tmp/contracts/artifacts" || status=1
for f in testusdc.go multicall3.go; do
	diff -u "$root/pkg/contracts/$f" "$tmp/pkg/contracts/$f" || status=1
done
if [[ $status -ne 0 ]]; then
	echo "contracts/check.sh: committed artifacts or bindings are stale; run contracts/gen.sh (or go generate ./pkg/contracts)" >&2
	exit 1
fi
echo "contracts/check.sh: artifacts and bindings are up to date"
