// Package eventlog opens a binary's connection to the event log: an external
// NATS server or cluster, or an embedded JetStream server when none is
// configured, with the streams and buckets made sure of.
package eventlog
