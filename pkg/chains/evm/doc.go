// Package evm is the EVM chain family: local verification of h402 EVM
// payments (no RPC), their replay keys, payer-side signing, and the
// settler's and watcher's chain work (Submitter, Confirmer, Auditor).
//
// Verifier checks the three EVM payload types of PROTOCOL.md §5 as far as no
// chain state is needed:
//   - authorization: an EIP-3009 TransferWithAuthorization, its EIP-712
//     signature (low-s, v in {27,28} or {0,1}), amount, recipient and window;
//   - signedTransaction: a raw signed transaction paying the recipient in the
//     native coin or by ERC-20 transfer, plus an EIP-191 signature over the
//     resource by the same sender;
//   - signAndSendTransaction: a transaction hash and an EIP-191 signature over
//     the resource, whose signer is the payer.
//
// Replay keys (PROTOCOL.md §6) are built from what identifies a payment, never
// from signature bytes, and use only [a-z0-9.x] so that they are valid NATS
// subject tokens and JetStream KV keys.
//
// Confirmer (the watcher's side) follows submitted payments to the network's
// finality and decides each from its own logs in a canonical block, never
// from a batch transaction's status; Auditor reads final transfers back for
// the ledger's reconciliation. Both read in JSON-RPC batches and check every
// receipt against the canonical block at its number.
//
// SignAuthorization, SignTransaction and SignAndSendPayload build complete
// payment payloads and X-PAYMENT headers for a payer's key (tests, load
// generators, example clients).
package evm
