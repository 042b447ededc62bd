// Package solana is the Solana chain family: local verification of h402
// Solana payments without RPC (wire-transaction decoding, ed25519 signature
// checks, the exact instruction layout of PROTOCOL.md §3 and §5), their replay
// keys (§6), payer-side signing of payment transactions, the binding of a
// client-broadcast payment to its request (binding.go), and the
// facilitator's fee-payer co-signature for the x402-style variant; on the
// settlement side the Submitter, the Confirmer that follows payments to
// finality by their own balance changes (confirm.go), and the Auditor that
// reads final transfers back (audit.go).
//
// The package imports github.com/gagliardetto/solana-go as solanago.
package solana
