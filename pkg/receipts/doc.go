// Package receipts delivers one seller's settlement receipts from NATS
// JetStream to the seller's handler, exactly once and in order, across
// restarts.
//
// The pipeline's watcher publishes one events.Receipt (version 1, JSON) per
// terminal payment (finalized, or failed after acceptance) on
// receipts.<payTo>.<namespace>.<networkId> in stream RECEIPTS, with
// Nats-Msg-Id <paymentId>:receipt. EVM payTo addresses are lowercased in the
// subject. sellerSeq numbers one seller's receipts on one subject 1, 2, 3,
// ... with no gap; it is assigned with compare-and-set on the subject, so
// the stream's order on a subject is sellerSeq order.
//
// A Client reads through a durable pull consumer named by the seller
// (Config.Consumer), filtered to the seller's subjects, one receipt
// outstanding at a time, explicit acks. Exactly-once to the handler rests
// on a checkpoint per subject (the last sellerSeq handled, its stream
// sequence and payment id) written in the same transaction as the
// handler's effect: Store is that transaction; BoltStore is a ready-made
// one on a local bbolt file, and a seller with its own database implements
// Store's three methods over it. For each delivery the client, inside one
// transaction:
//
//   - skips a receipt at or below the checkpoint (a redelivery, a consumer
//     created again) and acks it; the same sellerSeq with another payment
//     id is ErrConflict;
//   - handles the next one (checkpoint + 1), writes the checkpoint, commits,
//     then acks;
//   - on a jump (sellerSeq above checkpoint + 1: a store restored from a
//     backup, a consumer moved by hand) sends the consumer back to the
//     stream position after the checkpoint, so the missing receipts come
//     again; if they are not in the stream it stops with a *GapError
//     (ErrGap): money is never skipped silently.
//
// A message that is not a readable receipt of this seller stops Run with
// ErrBadReceipt and stays unacked: it is someone's money, and a person must
// look. At start the consumer is created or updated and sent back to its ack
// floor (a receipt a killed client held comes at once, not after AckWait);
// a consumer deleted while the client runs, or between runs, is created
// again from the stream's start, and the checkpoints skip what was handled
// (below a checkpoint the client already knows, without a transaction); a
// consumer whose filter or choice of networks changed (kept in its
// metadata, h402.networks) is sent back to the stream's start the same way. A lost ack sends the consumer back to its
// ack floor rather than holding a receipt for AckWait.
//
// Permissions: a seller's NATS user needs only its own consumer and
// subjects (natsembed.SellerPermissions): create it through the filtered
// API subject $JS.API.CONSUMER.CREATE.RECEIPTS.<consumer>.receipts.<payTo>.<ns>.>,
// CONSUMER.INFO, CONSUMER.MSG.NEXT and CONSUMER.RESET of RECEIPTS.<consumer>,
// acks on $JS.ACK.RECEIPTS.<consumer>.>, replies under its own inbox
// prefix (connect with nats.CustomInboxPrefix(events.SellerInboxPrefix(consumer))),
// and no publish on receipts.>.
package receipts
