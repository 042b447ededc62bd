// Package guard is the durable replay guard: one payment's replay key is
// claimed once, across every ingest replica, in a JetStream KV bucket written
// with Create (which fails when the key exists).
package guard
