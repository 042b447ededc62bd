// Package ingest is the facilitator endpoint sellers call: it verifies a
// payment synchronously (locally, then against cached chain state), claims
// its replay key, reserves the payer's exposure, publishes the accepted
// payment to JetStream, and answers only after the PubAck. Anything that
// fails after the claim undoes the claim and the reservation, so a payment is
// either durably accepted or not accepted at all.
package ingest
