// Package failover runs chain RPC calls over several endpoints, each behind
// its own circuit breaker (sony/gobreaker): a call goes to the first endpoint
// whose breaker is closed and moves on when the endpoint fails. Answers that
// are the chain's own (a revert, "not found") are not endpoint failures. When
// every breaker is open the call fails with a retryable error: a breaker open
// means "try later", never "the payment is bad".
package failover
