// Package soldev runs the local Solana chain for tests and development: a
// small JSON-RPC server (localnet/server.js, Node) over LiteSVM, a real SVM
// with SPL Token, Token-2022, Associated Token Account, Memo and ComputeBudget
// built in. The server models what LiteSVM lacks (slots, blockhash expiry,
// commitment levels, transaction records with balances), so solana-go's rpc
// client drives it unchanged.
//
// Start launches the server on a loopback port and returns a Localnet with
// the genesis state from its manifest: a USDC-like SPL mint and a Token-2022
// mint (6 decimals each), funded payers holding both tokens, a seller with its
// token accounts, and funded facilitator fee payers. Every key is a
// well-known LOCAL DEVELOPMENT key derived from a public label: never use one
// on a real cluster.
//
// Start finds localnet/ from this package's source location (or Config.Dir,
// or $SOLDEV_LOCALNET_DIR), runs `npm ci` there once when node_modules is
// missing (serialised by a file lock), starts `node server.js --port 0` in its
// own process group and reads the manifest from the first line of its output.
// Tests use StartT, which fails the test when node or npm is missing and
// stops the server at cleanup.
//
// Slots advance only when a test calls AdvanceSlots, unless
// Config.SlotInterval is set. A transaction is "processed" in the slot it
// lands in, "confirmed" one slot later and "finalized" FinalityDepthSlots
// later; a blockhash expires BlockhashExpirySlots after its slot.
package soldev
