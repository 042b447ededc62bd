package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/h402/settlement/pkg/h402"
	"github.com/nats-io/nats.go/jetstream"
)

// Claim is what the guard stores under a replay key.
type Claim struct {
	// Fingerprint identifies the exact request that claimed the key (a hash
	// of the X-PAYMENT bytes and the requirement), so that a retry of the same
	// request can be told from another payment with the same key.
	Fingerprint string    `json:"fp"`
	At          time.Time `json:"at"`
	// Replica is the ingest replica that claimed the key.
	Replica string `json:"replica,omitempty"`
}

// Held is returned by Acquire when the key is already claimed.
type Held struct {
	Claim    Claim
	Revision uint64
}

func (h *Held) Error() string {
	return fmt.Sprintf("replay key claimed at %s", h.Claim.At.Format(time.RFC3339))
}

// Guard claims replay keys.
type Guard struct {
	kv jetstream.KeyValue
}

// New returns a guard over the replay bucket.
func New(kv jetstream.KeyValue) *Guard { return &Guard{kv: kv} }

// Acquire claims key. It returns the claim's revision, or a *Held error
// (reason payment_already_used) when another request claimed it first.
func (g *Guard) Acquire(ctx context.Context, key string, c Claim) (uint64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	rev, err := g.kv.Create(ctx, key, b)
	if err == nil {
		return rev, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("claim replay key %s: %w", key, err)
	}
	entry, gerr := g.kv.Get(ctx, key)
	if gerr != nil {
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			// Released between our Create and Get: let the caller retry.
			return 0, fmt.Errorf("claim replay key %s: released concurrently: %w", key, err)
		}
		return 0, fmt.Errorf("read replay key %s: %w", key, gerr)
	}
	held := &Held{Revision: entry.Revision()}
	_ = json.Unmarshal(entry.Value(), &held.Claim)
	return 0, &h402.Error{Reason: h402.ReasonPaymentAlreadyUsed, Message: "this payment was already used", Err: held}
}

// Release gives a key back, only if it still holds our revision. Ingest
// releases a key when it could not make the payment durable, so the buyer can
// retry the same payment.
func (g *Guard) Release(ctx context.Context, key string, revision uint64) error {
	err := g.kv.Delete(ctx, key, jetstream.LastRevision(revision))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release replay key %s: %w", key, err)
	}
	return nil
}

// Lookup returns the claim of key, or nil when nobody holds it.
func (g *Guard) Lookup(ctx context.Context, key string) (*Held, error) {
	entry, err := g.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replay key %s: %w", key, err)
	}
	h := &Held{Revision: entry.Revision()}
	if err := json.Unmarshal(entry.Value(), &h.Claim); err != nil {
		return nil, fmt.Errorf("replay key %s holds an unreadable claim: %w", key, err)
	}
	return h, nil
}

// HeldBy returns the claim in err when err is a payment_already_used from Acquire.
func HeldBy(err error) (*Held, bool) {
	var h *Held
	if errors.As(err, &h) {
		return h, true
	}
	return nil, false
}
