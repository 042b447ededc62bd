// Package evmdev runs a local EVM dev chain for tests and the devnet command:
// go-ethereum's in-process simulated node (ethclient/simulated) serving
// JSON-RPC (HTTP and WebSocket on one loopback port), with mainnet-like gas
// rules, TestUSDC and Multicall3 deployed at fixed addresses, and funded payer
// and facilitator accounts from fixed, well-known, LOCAL-ONLY keys.
//
// Blocks are sealed every Config.BlockPeriod and on demand with Commit. A seal
// first waits (up to 2 s) until the pool has promoted every executable
// transaction it holds, so "send, then Commit" always includes the
// transaction (the pool promotes in the background after answering a send).
// Reorg rewinds the chain and builds a longer competing branch, so that mined
// transactions disappear (or move, with ReorgOptions.Reinclude).
//
// Finality. The simulated beacon inside go-ethereum fixes the JSON-RPC
// "finalized" tag at the last multiple of 32 blocks (32, 64, ...; the head
// itself when the head is such a multiple) and "safe" at the head; that cannot
// be configured from outside. This package keeps its own depth-based notion:
// Finalized returns max over time of head-Config.FinalityDepth. JSON-RPC
// "finalized" answers the beacon's value, not Finalized. Reorg refuses to
// rewind below either of them.
//
// Gas. The dev chain config of go-ethereum enables the Bogota/Amsterdam
// forks, whose storage pricing is far above mainnet's; Start turns them off,
// so the chain runs Osaka rules like Ethereum mainnet. The miner takes only
// transactions with a tip of at least 1e6 wei (MinTip).
//
// Timestamps. Each sealed block takes the wall clock in seconds, but at least
// the parent's timestamp plus one, so under fast commits block time runs ahead
// of the wall clock: take EIP-3009 validity windows from the head block.
package evmdev
