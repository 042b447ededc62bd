// Package settler is the consumer adapter between JetStream and a chain
// family's chains.Submitter. Per network it runs one durable pull consumer on
// the accepted payments, shared by every settler replica, and a Loop that
//
//   - fetches one batch at a time (no prefetching Consume buffer) and keeps
//     the batch alive with InProgress while it is being settled;
//   - passes payments that need a broadcast to the Submitter, with Claims
//     backed by the h402_claims KV bucket so that a successor continues from
//     what a crashed settler recorded instead of broadcasting again;
//   - classifies each result once: submitted → `submitted` transition and
//     settlement record, then Ack; an *h402.Error → dead letter, `failed`
//     transition, then TermWithReason; anything else → NakWithDelay with a
//     backoff by delivery count.
//
// A payment is acked only after the events that record its outcome are
// stored (PubAck). Redelivery is safe: the latest state of the payment is
// read first, transitions are appended only through events.StateLog.Append
// (compare-and-set on the payment's state subject, events.CanMove
// enforced; a move another writer made illegal is acked, not stored), and
// Submitters consult Claims before broadcasting.
//
// An event of a version this build cannot read is naked for
// Config.UnknownVersionDelay, for a settler that reads it (rolling
// upgrades). A payment that leaves the pipeline through a dead letter ends
// with a `failed` transition when its id can be read and nothing was
// claimed for it; every dead letter counts in h402_settler_dead_letters_total.
// Releaser gives back payer exposure for every terminal transition,
// whoever wrote it, so that a crash between the transition and the
// release loses nothing.
package settler
