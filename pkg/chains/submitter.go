package chains

import (
	"context"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Tx is a facilitator transaction that carries one or more payments.
type Tx struct {
	// Hash is the transaction id (EVM tx hash, Solana first signature).
	Hash string `json:"hash"`
	// Signer is the facilitator key (address / public key) that signed it;
	// empty for a client-signed transaction broadcast as is.
	Signer string `json:"signer,omitempty"`
	// Nonce is the signer's account nonce (EVM); a replacement has the same one.
	Nonce uint64 `json:"nonce,omitempty"`
	// Raw is the signed transaction, so a successor can re-broadcast the very
	// same bytes instead of signing anew.
	Raw []byte `json:"raw,omitempty"`
	// Replaces lists earlier hashes of the same nonce this one replaced; all
	// are tracked until one is final.
	Replaces []string `json:"replaces,omitempty"`
	// Dead lists hashes of earlier transactions of these payments that
	// provably cannot land (their nonce is used by another transaction).
	// Given to Record, it allows a claim held by one of them to be
	// superseded; in a stored claim, it is the superseded hashes, kept.
	Dead []string `json:"dead,omitempty"`
}

// Claims records what a settler is about to broadcast, durably and before
// it does, so that after a crash a successor continues from what was
// recorded instead of broadcasting again (DESIGN.md invariant 3).
type Claims interface {
	// Record stores tx as the carrier of the given payments, all or none.
	// It must succeed before tx is broadcast. Recording a replacement
	// overwrites the carrier and keeps the replaced hashes in tx.Replaces; a
	// claim whose transaction is listed in tx.Dead is superseded and its
	// hashes kept in the stored Dead.
	Record(ctx context.Context, paymentIDs []string, tx Tx) error
	// Lookup returns the transaction recorded for a payment, or nil.
	Lookup(ctx context.Context, paymentID string) (*Tx, error)
}

// Result is what happened to one payment of a batch.
type Result struct {
	ID string
	// Tx carries the payment once it is submitted.
	Tx *Tx
	// Err is nil when submitted; an *h402.Error when the payment can never
	// settle (it fails with that reason); anything else is retryable.
	Err error
}

// Submitter puts accepted payments of one network on chain.
type Submitter interface {
	Namespace() h402.Namespace
	// Submit settles a batch of accepted payments (all of one network and
	// with Settle true). It returns one Result per payment, in order. Before
	// broadcasting anything it checks Claims and the chain for what an
	// earlier attempt did, and continues from there.
	Submit(ctx context.Context, batch []*events.PaymentAccepted, claims Claims) ([]Result, error)
}
