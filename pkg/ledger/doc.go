// Package ledger is a projection of the JetStream event streams (PAYMENTS,
// SETTLEMENTS, RECEIPTS) into a bbolt file, served over HTTP and read by
// cmd/h402ledger and pkg/reconcile. It is the only importer of bbolt.
//
// Apply applies one stream message idempotently: the stream's last applied
// sequence is stored in the same bbolt Update as the change, and a message at
// or below it is skipped. A message that cannot be decoded, or that names
// something other than its subject says, is counted as skipped (and logged)
// and never stops the projection. Every bucket is derived from one stream
// only and from message contents only (never the wall clock), so the content
// does not depend on how the three streams interleave, and deleting the file
// and replaying the streams rebuilds it byte for byte (Dump). ApplyBatch
// applies several messages of a stream in one Update (Follow batches what
// has arrived, up to 512): one disk write per batch, not per message
// (BenchmarkApplyBatch: about 17,000 messages/s on the 2-core machine, 4
// messages a payment).
//
// Keys that hold a variable-length string start with its length as a
// uvarint (lp(s) below), so that a prefix scan of one seller or payer is
// exact whatever bytes the string holds. Times in keys are 8 bytes big-endian
// of the Unix nanoseconds with the sign bit flipped (they sort in time order).
//
// Buckets (name: key → value):
//
//	meta               "seq/<stream>" → uint64 last applied sequence;
//	                   "skipped/<stream>" → uint64 count of skipped messages;
//	                   "ignored/<stream>" → uint64 count of messages read and
//	                   deliberately not projected (repeats, dead letters, reviews);
//	                   "origin/<stream>" → the creation time (RFC 3339) of
//	                   the stream the file projects (CheckOrigin; left out
//	                   of Dump: it says where the content came from).
//	payments           id → Payment JSON (accepted data, latest state, tx,
//	                   block, finality time, reason; what it adds to totals).
//	                   PAYMENTS only.
//	history            lp(id) seq(8) → events.Transition JSON, the id taken
//	                   from the subject. PAYMENTS only.
//	by_payto, by_payer lp(payTo|payer) time(acceptedAt) id → "".
//	terminal_by_payto  lp(payTo) time(terminal transition At) id → "".
//	terminal_by_net    lp(ns.net) time(terminal transition At) id → "".
//	by_tx              lp(txHash) id → "" (the payment's current tx).
//	totals             lp(payTo) lp(ns.net) token → Totals JSON (settled,
//	                   pending, failed: decimal strings). PAYMENTS only.
//	receipts           id → events.Receipt JSON (first one wins). RECEIPTS only.
//	receipts_by_seller lp(payTo) time(At) id → "".
//	receipts_by_seq    lp(payTo) lp(ns.net) sellerSeq(8) → id (first wins).
//	settlements        lp(ns.net) txHash → Settlement JSON: the sorted union
//	                   of the payments of every submitted record. SETTLEMENTS only.
//	finals             lp(ns.net) txHash → events.SettlementFinal JSON (first
//	                   record of a transaction; later ones are ignored).
//	gas                ns.net → Gas JSON (transactions, gas used and fees,
//	                   facilitator-paid and client-paid). SETTLEMENTS only.
//	counts             lp(ns.net) state → uint64 payments in that state
//	                   (accepted event read). PAYMENTS only.
//	per_minute         lp(ns.net) time(minute) kind → uint64 payments
//	                   accepted ('a', by acceptedAt), finalized ('f') or
//	                   failed ('x', by the terminal transition's At) in that
//	                   minute, each counted in its current state. PAYMENTS only.
//	receipts_by_time   time(At) id → "". RECEIPTS only.
//
// counts, per_minute and receipts_by_time feed Status (the status page)
// with bounded reads; a counter at zero is deleted. A file of an older
// build gets them filled from payments and receipts when opened writable.
//
// EVM addresses (0x…) are lowercased in keys; other strings are kept as is.
package ledger
