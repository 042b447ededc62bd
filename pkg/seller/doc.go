// Package seller is a net/http middleware that charges for routes in
// stablecoins through an h402 facilitator (this project's ingest).
//
// A request to a priced route without a payment is answered 402 with the
// route's offers in every dialect at once: the x402 v2 PAYMENT-REQUIRED
// header, and a JSON body that h402 clients (h402Version,
// h402.DecodePaymentRequired) and x402 v1 clients (x402Version, accepts)
// both read. With a payment (X-PAYMENT: h402 or x402 v1; PAYMENT-SIGNATURE:
// x402 v2) the middleware picks the offer it pays, verifies it with the
// facilitator, runs the handler into a buffer, settles (unless the handler
// failed), optionally waits until the payment is submitted or final, and only
// then writes the handler's answer with X-PAYMENT-RESPONSE or
// PAYMENT-RESPONSE. Every failure is answered in the payment's dialect with a
// machine reason and a sentence; unpaid content is never written.
//
// Discover completes a Config from the facilitator's GET /supported (the
// Solana fee payer, and a check that every offer's network and token are
// served). The README's "Selling" section documents the choices: the
// dual-dialect 402 body, one random idempotency key per incoming request,
// 504 when a submitted/finalized wait runs out, 503 when the facilitator
// cannot answer.
package seller
