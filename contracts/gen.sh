#!/usr/bin/env bash
# Rebuilds the contract artifacts and the Go bindings.
#
#   contracts/gen.sh            rebuild in place (contracts/artifacts, pkg/contracts)
#   contracts/gen.sh OUTROOT    write OUTROOT/contracts/artifacts and OUTROOT/pkg/contracts
#
# Needs node + npm (solc-js pinned in package-lock.json; `npm ci` runs when
# node_modules is missing) and Go (abigen at the go-ethereum version of go.mod).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root}"
abigen_version="v1.17.10"

if [[ ! -d "$here/node_modules/solc" ]]; then
	(cd "$here" && npm ci --no-audit --no-fund --prefer-offline >/dev/null)
fi

artifacts="$out/contracts/artifacts"
bindings="$out/pkg/contracts"
mkdir -p "$artifacts" "$bindings"
node "$here/build.js" "$artifacts" >/dev/null

# abigen names the second overload of a function <name>0; the order follows the
# ABI solc emits. The aliases give every overload a stable, descriptive name:
# the (v, r, s) forms keep the plain name, the packed `bytes signature` forms
# get a Bytes suffix. pkg/contracts tests pin each name to its selector.
aliases="transferWithAuthorization=transferWithAuthorizationBytes,transferWithAuthorization0=transferWithAuthorization"
aliases+=",receiveWithAuthorization=receiveWithAuthorizationBytes,receiveWithAuthorization0=receiveWithAuthorization"
aliases+=",cancelAuthorization0=cancelAuthorizationBytes"

abigen() {
	(cd "$root" && go run "github.com/ethereum/go-ethereum/cmd/abigen@${abigen_version}" "$@")
}
abigen --v2 --pkg contracts --type TestUSDC --alias "$aliases" \
	--abi "$artifacts/TestUSDC.abi" --bin "$artifacts/TestUSDC.bin" --out "$bindings/testusdc.go"
abigen --v2 --pkg contracts --type Multicall3 \
	--abi "$artifacts/Multicall3.abi" --bin "$artifacts/Multicall3.bin" --out "$bindings/multicall3.go"
