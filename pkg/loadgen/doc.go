// Package loadgen drives an ingest replica's /settle with payments signed up
// front, bounded in count and time, and only on loopback addresses. It
// reports accepted payments per second, latency percentiles and the
// replica's resident memory (read from its admin /metrics).
package loadgen
