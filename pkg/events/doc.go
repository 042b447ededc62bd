// Package events is the pipeline's shared vocabulary: versioned event types,
// subject builders, and the configuration of the JetStream streams and KV
// buckets. No subject string is written outside this package.
package events
