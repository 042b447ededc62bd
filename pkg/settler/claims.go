package settler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
)

// BucketClaims holds, per payment id, the transaction a settler recorded
// before broadcasting it.
const BucketClaims = "h402_claims"

var _ chains.Claims = (*Claims)(nil)

// ErrClaimConflict is returned by Record when a payment is already claimed
// by another transaction that the new one does not replace: another settler
// got there first. It is retryable: the next delivery finds that claim.
var ErrClaimConflict = errors.New("payment is claimed by another transaction")

// ClaimsBucket is the bucket's configuration. Claims live as long as replay
// keys: longer than any payment can stay valid, so a redelivered payment
// always finds what was recorded for it.
func ClaimsBucket(c events.StreamsConfig) jetstream.KeyValueConfig {
	storage := jetstream.FileStorage
	if c.Memory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.KeyValueConfig{
		Bucket:      BucketClaims,
		Description: "transactions settlers recorded before broadcasting, by payment id",
		TTL:         c.ReplayTTL,
		Storage:     storage,
		Replicas:    c.Replicas,
		History:     1,
	}
}

// Claims is chains.Claims over the h402_claims KV bucket.
type Claims struct {
	kv jetstream.KeyValue
}

// OpenClaims creates or updates the claims bucket and returns Claims over it.
func OpenClaims(ctx context.Context, js jetstream.JetStream, c events.StreamsConfig) (*Claims, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, ClaimsBucket(c))
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", BucketClaims, err)
	}
	return NewClaims(kv), nil
}

// NewClaims returns Claims over an open bucket.
func NewClaims(kv jetstream.KeyValue) *Claims { return &Claims{kv: kv} }

// Record stores tx for each payment: Create for a new claim; an existing
// claim is left alone when it is tx itself, and overwritten (compare and
// set) when tx.Replaces lists its hash. Any other existing claim is a
// conflict: Record then returns an error wrapping ErrClaimConflict naming
// those payments, after recording the others; the caller must not broadcast tx.
func (c *Claims) Record(ctx context.Context, paymentIDs []string, tx chains.Tx) error {
	if tx.Hash == "" {
		return errors.New("record claim: transaction has no hash")
	}
	val, err := json.Marshal(tx)
	if err != nil {
		return fmt.Errorf("record claim %s: %w", tx.Hash, err)
	}
	var conflicts []string
	for _, id := range paymentIDs {
		ok, err := c.record(ctx, id, tx, val)
		if err != nil {
			return err
		}
		if !ok {
			conflicts = append(conflicts, id)
		}
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("record claim %s: %w: %s", tx.Hash, ErrClaimConflict, strings.Join(conflicts, ", "))
	}
	return nil
}

// record claims one payment; false means another transaction holds it.
func (c *Claims) record(ctx context.Context, id string, tx chains.Tx, val []byte) (bool, error) {
	if err := events.CheckPaymentID(id); err != nil {
		return false, fmt.Errorf("record claim of %q: %w", id, err)
	}
	for {
		_, err := c.kv.Create(ctx, id, val)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("record claim of %s: %w", id, err)
		}
		entry, err := c.kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted or expired in between: create again
		}
		if err != nil {
			return false, fmt.Errorf("read claim of %s: %w", id, err)
		}
		var held chains.Tx
		if err := json.Unmarshal(entry.Value(), &held); err != nil {
			return false, fmt.Errorf("claim of %s does not decode: %w", id, err)
		}
		switch {
		case held.Hash == tx.Hash:
			if slices.Equal(held.Raw, tx.Raw) {
				return true, nil
			}
		case !slices.Contains(tx.Replaces, held.Hash):
			return false, nil
		}
		_, err = c.kv.Update(ctx, id, val, entry.Revision())
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("replace claim of %s: %w", id, err)
		}
		// Another writer changed it between Get and Update: look again.
	}
}

// Lookup returns the transaction recorded for a payment, or nil.
func (c *Claims) Lookup(ctx context.Context, paymentID string) (*chains.Tx, error) {
	if err := events.CheckPaymentID(paymentID); err != nil {
		return nil, fmt.Errorf("look up claim of %q: %w", paymentID, err)
	}
	entry, err := c.kv.Get(ctx, paymentID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up claim of %s: %w", paymentID, err)
	}
	var tx chains.Tx
	if err := json.Unmarshal(entry.Value(), &tx); err != nil {
		return nil, fmt.Errorf("claim of %s does not decode: %w", paymentID, err)
	}
	return &tx, nil
}
