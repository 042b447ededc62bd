// Package chains defines the small interfaces each pipeline stage needs from a
// chain family: a Verifier for ingest (local checks, no RPC), a StateChecker
// for the chain-state checks that complete verification. The families live in
// pkg/chains/evm and pkg/chains/solana and are registered explicitly in main.
package chains
