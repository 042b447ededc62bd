// Package h402 holds the wire contract of the h402 payment protocol: payment
// requirements, payment payloads of every EVM and Solana variant, the 402 body,
// verify and settle responses, the X-PAYMENT header codec, the error reasons,
// and the mapping of x402 v1 and v2 shapes onto the same types.
//
// Decoding is strict: sizes are bounded, discriminators must be known, and
// amounts are exact integers that never pass through float64.
package h402
