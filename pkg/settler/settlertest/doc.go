// Package settlertest holds what settler tests share: accepted Solana
// payments signed and verified as ingest would, publishing and watching
// events on an embedded JetStream, a Claims wrapper that counts (and can
// simulate a crash after recording), and a JSON-RPC front that counts
// broadcasts and can be stopped and started to simulate an endpoint outage.
package settlertest
