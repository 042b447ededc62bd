// Package testenv starts the real parts tests run on, each with one call that
// registers its teardown: an embedded JetStream server with the pipeline's
// streams and buckets, the in-process EVM dev chain, and the LiteSVM localnet.
package testenv
