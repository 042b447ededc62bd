// Package buyer is the paying side of h402 and x402 for Go HTTP clients: a
// Transport (an http.RoundTripper wrapping a base transport) that answers a
// seller's 402 by paying one of the offered requirements with the buyer's
// EVM or Solana key and retrying the request once.
//
// The 402 is read in every dialect: the x402 v2 PAYMENT-REQUIRED header
// (preferred when present), an x402 v1 body {x402Version: 1, accepts} and
// an h402 body {h402Version: 1, accepts}. The payment is built in the
// dialect the seller spoke: h402 X-PAYMENT (EVM EIP-3009 authorization,
// Solana signTransaction, with or without a facilitator fee payer), x402 v1
// X-PAYMENT, or x402 v2 PAYMENT-SIGNATURE echoing the accepted requirement
// and the resource.
//
// A Policy says what may be paid: the networks (in order of preference),
// and per token a price cap per request and a total across the Transport's
// life, all in exact smallest units. Each payment's result (the requirement
// chosen, the payer, the amount and the seller's decoded X-PAYMENT-RESPONSE
// or PAYMENT-RESPONSE) is reachable from the response with PaymentOf and
// through Config.OnPayment; Transport.Spent gives the totals.
//
// Spending is counted conservatively. The amount is reserved against the
// total before anything is signed (under one lock, so concurrent requests
// never spend past the total together), and released only when signing
// failed, so that no signed payment exists. Once a payment is signed it
// stays counted, whatever the seller answers: a signed EIP-3009 authorization or
// Solana transaction can still be settled by anyone holding it until it
// expires, and no answer of a seller proves that it was not (a 402 after
// payment may come from a seller that kept the payment). Money at risk is
// treated as spent.
//
// The request is sent with its payment at most once: a second 402 is
// handed back to the caller, with the seller's reason in PaymentOf(resp).Err.
package buyer
