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
	// of the canonical payment and the requirement), so that a retry of the
	// same request can be told from another request with the same key.
	Fingerprint string `json:"fp"`
	// Idempotency is the seller's Idempotency-Key (or x402 v2
	// payment-identifier) of the claiming request, empty when it had none.
	Idempotency string    `json:"idem,omitempty"`
	At          time.Time `json:"at"`
	// Replica is the ingest replica that claimed the key.
	Replica string `json:"replica,omitempty"`
	// Permanent claims never expire: client-broadcast payments, whose
	// transaction stays a valid transfer for ever.
	Permanent bool `json:"permanent,omitempty"`
}

// Same reports whether a request with this fingerprint and idempotency key
// is the one that made the claim.
func (c Claim) Same(fingerprint, idempotency string) bool {
	return c.Fingerprint == fingerprint && c.Idempotency == idempotency
}

// Held is returned by Acquire when the key is already claimed.
type Held struct {
	Key      string
	Claim    Claim
	Revision uint64
}

func (h *Held) Error() string {
	return fmt.Sprintf("replay key claimed at %s", h.Claim.At.Format(time.RFC3339))
}

// ErrNoUsedBucket is returned for a permanent claim on a guard without the
// bucket that keeps keys for good.
var ErrNoUsedBucket = errors.New("guard: no bucket for permanent replay keys")

// Guard claims replay keys: in the replay bucket (whose TTL outlives any
// payment's validity) or, for permanent claims, in the used bucket (no TTL).
type Guard struct {
	replay jetstream.KeyValue
	used   jetstream.KeyValue
}

// New returns a guard over the replay bucket and the bucket of permanent
// keys (nil refuses permanent claims).
func New(replay, used jetstream.KeyValue) *Guard { return &Guard{replay: replay, used: used} }

func (g *Guard) bucket(permanent bool) (jetstream.KeyValue, error) {
	if !permanent {
		return g.replay, nil
	}
	if g.used == nil {
		return nil, ErrNoUsedBucket
	}
	return g.used, nil
}

// Acquire claims key. It returns the claim's revision, or a *Held error
// (reason payment_already_used) when another request claimed it first.
func (g *Guard) Acquire(ctx context.Context, key string, c Claim) (uint64, error) {
	kv, err := g.bucket(c.Permanent)
	if err != nil {
		return 0, err
	}
	if c.Permanent {
		// A key of this kind may still be held in the replay bucket, claimed
		// before its kind was kept for good.
		held, err := g.get(ctx, g.replay, key)
		if err != nil {
			return 0, err
		}
		if held != nil {
			return 0, &h402.Error{Reason: h402.ReasonPaymentAlreadyUsed, Message: "this payment was already used", Err: held}
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Create(ctx, key, b)
	if err == nil {
		return rev, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("claim replay key %s: %w", key, err)
	}
	held, gerr := g.get(ctx, kv, key)
	if gerr != nil {
		return 0, gerr
	}
	if held == nil {
		// Released between our Create and Get: let the caller retry.
		return 0, fmt.Errorf("claim replay key %s: released concurrently: %w", key, err)
	}
	return 0, &h402.Error{Reason: h402.ReasonPaymentAlreadyUsed, Message: "this payment was already used", Err: held}
}

// Release gives a key back, only if it still holds our revision. Ingest
// releases a key when it knows the payment was not made durable, so the
// buyer can retry the same payment.
func (g *Guard) Release(ctx context.Context, key string, c Claim, revision uint64) error {
	kv, err := g.bucket(c.Permanent)
	if err != nil {
		return err
	}
	err = kv.Delete(ctx, key, jetstream.LastRevision(revision))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release replay key %s: %w", key, err)
	}
	return nil
}

// Transfer hands a key this request holds (at revision) to another claim,
// with compare-and-set: used when the payment turns out to be stored for
// another request, so that request's retry is recognised.
func (g *Guard) Transfer(ctx context.Context, key string, to Claim, revision uint64) error {
	kv, err := g.bucket(to.Permanent)
	if err != nil {
		return err
	}
	b, err := json.Marshal(to)
	if err != nil {
		return err
	}
	if _, err := kv.Update(ctx, key, b, revision); err != nil {
		return fmt.Errorf("transfer replay key %s: %w", key, err)
	}
	return nil
}

// Lookup returns the claim of key, or nil when nobody holds it, when the
// kind of key is not known: both buckets are read on a miss.
func (g *Guard) Lookup(ctx context.Context, key string) (*Held, error) {
	h, err := g.get(ctx, g.replay, key)
	if err != nil || h != nil || g.used == nil {
		return h, err
	}
	return g.get(ctx, g.used, key)
}

// LookupKind is Lookup for a key whose kind is known: a key that expires
// is read from the replay bucket alone (one read on the hot path); a
// permanent one from the used bucket, then from the replay bucket, where it
// may have been claimed before its kind was kept for good.
func (g *Guard) LookupKind(ctx context.Context, key string, permanent bool) (*Held, error) {
	if !permanent || g.used == nil {
		return g.get(ctx, g.replay, key)
	}
	h, err := g.get(ctx, g.used, key)
	if err != nil || h != nil {
		return h, err
	}
	return g.get(ctx, g.replay, key)
}

func (g *Guard) get(ctx context.Context, kv jetstream.KeyValue, key string) (*Held, error) {
	entry, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replay key %s: %w", key, err)
	}
	h := &Held{Key: key, Revision: entry.Revision()}
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
