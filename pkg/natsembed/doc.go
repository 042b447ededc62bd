// Package natsembed runs a NATS server with JetStream inside the process: the
// one-process default of the binaries when no NATS URL is configured, and the
// real broker of every test.
package natsembed
