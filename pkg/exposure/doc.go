// Package exposure tracks each payer's pending amount per token: what ingest
// accepted and the chain has not yet finalized or failed. A payment that would
// push a payer's pending amount over its balance is refused
// (insufficient_funds), so that accepted payments stay payable (DESIGN.md
// invariant 4, bounded exposure).
//
// Across ingest replicas the pending sums live in a JetStream KV bucket and
// change only by compare-and-set on the key's revision: two replicas that
// reserve for one payer at once cannot both pass on the same stale sum; the
// loser re-reads and re-checks. Each reservation is also recorded under its
// payment id, so a release is idempotent and releases exactly what was
// reserved. The order of writes is chosen so that a crash between two writes
// can only overstate exposure (refuse a payment), never understate it.
package exposure
