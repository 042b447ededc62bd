// Package reconcile checks the ledger against the chains, both ways, over a
// time range: every payment the ledger holds as finalized has its transfer
// in its transaction (each payment of a batch its own transfer), and every
// transfer the facilitator's accounts made is a finalized payment in the
// ledger. It reads chains through chains.Auditor.
package reconcile
