// Package h402 holds the wire contract of the h402 payment protocol: payment
// requirements, payment payloads of every EVM and Solana variant, the 402 body,
// verify and settle responses, the X-PAYMENT header codec, the error reasons,
// and the mapping of x402 v1 and v2 shapes onto the same types.
//
// Decoding is strict: sizes are bounded, discriminators must be known, and
// amounts are exact integers that never pass through float64. Every rejection
// is an *Error with a stable Reason and a sentence for people.
//
// The facilitator's entry point is DecodeRequest, which reads the body of
// POST /verify or /settle in any dialect (h402, x402 v1, x402 v2) and returns
// a Request holding the h402 form of the payment. Its VerifyAnswer,
// SettleAnswer and SettleHeader write the answer back in the client's dialect.
// x402 network strings are resolved by a NetworkResolver, so that this package
// needs no configuration: DefaultNetworkResolver knows the fixed x402 v1 names,
// eip155:<chain id> and the public Solana clusters, and a NetworkTable adds a
// deployment's own.
package h402
