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
//
// A payment that fails on chain by its payer's doing (funds moved away, the
// authorization canceled) is not released but blocked (Book.Block): the
// account record itself carries the block's end and the amount it holds, so
// Check and Reserve see the block on the read they already make, a replica
// with a cached record learns of it from the compare-and-set conflict, and
// the held amount is given back when the block expires.
//
// A release also records its time on the account. Balances come from the
// chain through a short cache; a payment released as final has left the
// pending sum, but a balance read before its debit was on chain still
// counts its money, so that pair would count it nowhere and over-accept.
// Reserve and Check therefore take the balance's load time and refuse one
// loaded before the account's last release (ErrStaleBalance); the caller
// loads the balance afresh and retries. The comparison crosses processes'
// clocks (the releaser's and ingest's); it is sound while their skew is
// smaller than the time between a debit appearing at the chain's latest
// head and its release after finality (a failed payment's release moved no
// money, and refusing after it only costs a reload).
package exposure
