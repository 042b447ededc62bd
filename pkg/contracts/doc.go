// Package contracts holds the Go bindings (abigen v2) of the test contracts in
// contracts/src: TestUSDC, an EIP-3009 stablecoin that behaves as USDC's
// FiatToken v2.2 does, and Multicall3, whose aggregate3 batches many
// authorizations into one transaction.
//
// The bindings and the compiled artifacts in contracts/artifacts are generated
// and committed; `go generate ./pkg/contracts` rebuilds both (node + npm for
// the pinned solc-js, Go for abigen), and contracts/check.sh fails when the
// committed files are stale.
//
// Overloaded functions carry explicit names: the (v, r, s) forms keep the
// plain name (PackTransferWithAuthorization, PackReceiveWithAuthorization,
// PackCancelAuthorization) and the packed `bytes signature` forms end in
// Bytes (PackTransferWithAuthorizationBytes, ...).
package contracts

//go:generate ../../contracts/gen.sh
