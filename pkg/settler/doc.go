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
// read first, transitions carry a Nats-Msg-Id derived from the payment and
// transaction, and Submitters consult Claims before broadcasting.
package settler
