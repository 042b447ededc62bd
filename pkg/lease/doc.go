// Package lease gives a process exclusive use of a signing key for as long
// as it keeps renewing its lease, so that no two settler replicas ever sign
// with one key (two signers of one key would fight over its nonces).
//
// Leases live in the JetStream KV bucket "h402_leases", one key per signing
// key id (its address or public key), with a bucket TTL: Acquire writes with
// Create, which fails while another holder's entry exists; the holder renews
// with Update at the revision it last wrote, which fails once anyone else
// wrote since; an entry that is not renewed expires after the TTL and the
// key is free again. A holder treats its lease as lost before the server can
// expire it (no successful renewal for TTL minus a safety margin), and on any
// failed renewal at its revision: Lost is closed and the signer must stop.
//
// The package sees key ids and carries the private material only in memory:
// Key never prints or logs its secret.
package lease
