// Package demo is the one-command demonstration behind `make run`: a demo
// seller (pkg/seller middleware: an EVM route and two Solana routes priced
// in the dev USDC), a demo buyer (pkg/buyer's RoundTripper) paying N
// requests across payload types on both chains with some concurrency, a
// Standard Webhooks receiver for the seller (signatures checked with
// webhooks.Verify), the seller's receipts followed from stream RECEIPTS
// with pkg/receipts, and a progress line a second (states from ingest's
// GET /payments/{id}, batches and gas from the watcher's ledger API) ending
// in a summary.
//
// Payload types the buyer makes (Kind): EVM EIP-3009 authorization in the
// h402 dialect (X-PAYMENT) and in x402 v2 (PAYMENT-SIGNATURE), Solana
// signTransaction with the buyer paying the fee (h402) and with the
// facilitator's fee payer (x402 v2). pkg/buyer makes no EVM
// signedTransaction or signAndSendTransaction payload and no Solana
// signAndSendTransaction (cmd/h402pay makes those), so the demo does not
// either.
//
// The seller's 402 speaks every dialect at once and pkg/buyer prefers the
// x402 v2 header; the h402 kinds are paid as an h402-only client would
// see the 402 (the demo's base transport drops the PAYMENT-REQUIRED header
// and the body's x402Version for those requests).
package demo
