package settler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/jsensure"
)

var _ chains.Claims = (*Claims)(nil)

// ErrClaimConflict is returned by Record when a payment is already claimed
// by another transaction that the new one does not replace: another settler
// got there first. It is retryable: the next delivery finds that claim.
var ErrClaimConflict = errors.New("payment is claimed by another transaction")

// Claims is chains.Claims over the h402_claims KV bucket.
type Claims struct {
	kv jetstream.KeyValue
}

// OpenClaims creates or updates the claims bucket and returns Claims over it.
func OpenClaims(ctx context.Context, js jetstream.JetStream, c events.StreamsConfig) (*Claims, error) {
	kv, _, err := jsensure.KeyValue(ctx, js, c.ClaimsBucket())
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", events.BucketClaims, err)
	}
	return NewClaims(kv), nil
}

// NewClaims returns Claims over an open bucket.
func NewClaims(kv jetstream.KeyValue) *Claims { return &Claims{kv: kv} }

// Record stores tx for each payment, all or none: Create for a new claim;
// an existing claim is left alone when it is tx itself, overwritten (compare
// and set on the revision read) when tx.Replaces lists its hash (a
// replacement of the same nonce), and superseded when tx.Dead lists its hash
// (its transaction provably cannot land; the stored claim keeps the dead
// hashes in Dead). Any other existing claim is a conflict: Record then
// returns an error wrapping ErrClaimConflict naming those payments, after
// undoing (compare and set) what it wrote; the caller must not broadcast tx.
//
// A transaction of an account-nonce signer (an EVM facilitator key: Signer
// is 0x hex) is also indexed under n.<signer>.<nonce> in the same Record, so
// that a new holder of the key finds what each pending nonce carries
// (LookupNonce).
func (c *Claims) Record(ctx context.Context, paymentIDs []string, tx chains.Tx) error {
	if tx.Hash == "" {
		return errors.New("record claim: transaction has no hash")
	}
	for _, id := range paymentIDs {
		if err := events.CheckPaymentID(id); err != nil {
			return fmt.Errorf("record claim of %q: %w", id, err)
		}
	}
	var (
		done      []write
		conflicts []string
		failed    error
	)
	for _, id := range paymentIDs {
		w, ok, err := c.record(ctx, id, tx)
		if err != nil {
			failed = err
			break
		}
		if !ok {
			conflicts = append(conflicts, id)
			continue
		}
		if w != nil {
			done = append(done, *w)
		}
	}
	if failed == nil && len(conflicts) == 0 && nonceIndexed(tx) {
		w, err := c.index(ctx, paymentIDs, tx)
		if err != nil {
			failed = err
		} else if w != nil {
			done = append(done, *w)
		}
	}
	if failed == nil && len(conflicts) == 0 {
		return nil
	}
	if err := c.undo(ctx, done); err != nil {
		failed = errors.Join(failed, fmt.Errorf("undo claims of %s: %w", tx.Hash, err))
	}
	if failed != nil {
		return failed
	}
	return fmt.Errorf("record claim %s: %w: %s", tx.Hash, ErrClaimConflict, strings.Join(conflicts, ", "))
}

// write is one key Record wrote, so that it can be undone.
type write struct {
	key  string
	rev  uint64 // revision written
	prev []byte // value before; nil when the key was new
}

// undo reverts writes, newest first, each by compare and set on the revision
// written. It runs to the end even when ctx is done (the undo must not fail
// because of the trouble it undoes), within a bound.
func (c *Claims) undo(ctx context.Context, done []write) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		w := done[i]
		var err error
		if w.prev == nil {
			err = c.kv.Delete(ctx, w.key, jetstream.LastRevision(w.rev))
		} else {
			_, err = c.kv.Update(ctx, w.key, w.prev, w.rev)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", w.key, err))
		}
	}
	return errors.Join(errs...)
}

// undoTimeout bounds the undo of a partial Record.
const undoTimeout = 10 * time.Second

// record claims one payment; false means another transaction holds it. The
// write is nil when nothing was written (the claim is already tx).
func (c *Claims) record(ctx context.Context, id string, tx chains.Tx) (*write, bool, error) {
	fresh := tx
	fresh.Dead = nil
	val, err := json.Marshal(fresh)
	if err != nil {
		return nil, false, fmt.Errorf("record claim %s: %w", tx.Hash, err)
	}
	for {
		rev, err := c.kv.Create(ctx, id, val)
		if err == nil {
			return &write{key: id, rev: rev}, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, fmt.Errorf("record claim of %s: %w", id, err)
		}
		entry, err := c.kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted or expired in between: create again
		}
		if err != nil {
			return nil, false, fmt.Errorf("read claim of %s: %w", id, err)
		}
		var held chains.Tx
		if err := json.Unmarshal(entry.Value(), &held); err != nil {
			return nil, false, fmt.Errorf("claim of %s does not decode: %w", id, err)
		}
		next := tx
		switch {
		case held.Hash == tx.Hash:
			if slices.Equal(held.Raw, tx.Raw) {
				return nil, true, nil
			}
			next.Dead = held.Dead
		case slices.Contains(tx.Replaces, held.Hash):
			next.Dead = held.Dead
		case slices.Contains(tx.Dead, held.Hash):
			next.Dead = slices.Clone(held.Dead)
			for _, h := range append([]string{held.Hash}, held.Replaces...) {
				if !slices.Contains(next.Dead, h) {
					next.Dead = append(next.Dead, h)
				}
			}
		default:
			return nil, false, nil
		}
		nv, err := json.Marshal(next)
		if err != nil {
			return nil, false, fmt.Errorf("record claim %s: %w", tx.Hash, err)
		}
		rev, err = c.kv.Update(ctx, id, nv, entry.Revision())
		if err == nil {
			return &write{key: id, rev: rev, prev: entry.Value()}, true, nil
		}
		if !isCASConflict(err) {
			return nil, false, fmt.Errorf("replace claim of %s: %w", id, err)
		}
		// Another writer changed it between Get and Update: look again.
	}
}

// nonceClaim is what the nonce index holds: the newest transaction recorded
// for one nonce of a signer, and the payments it carries.
type nonceClaim struct {
	Tx         chains.Tx `json:"tx"`
	PaymentIDs []string  `json:"paymentIds"`
}

// nonceIndexed reports whether tx is indexed by signer and nonce: a
// facilitator transaction of an account-nonce chain (EVM).
func nonceIndexed(tx chains.Tx) bool {
	return len(tx.Signer) == 42 && strings.HasPrefix(tx.Signer, "0x")
}

// nonceKey is the index key of a signer's nonce.
func nonceKey(signer string, nonce uint64) string {
	return "n." + strings.ToLower(signer) + "." + strconv.FormatUint(nonce, 10)
}

// index points the signer's nonce at tx (the newest record of a nonce wins:
// the key's holder signs one nonce at a time).
func (c *Claims) index(ctx context.Context, ids []string, tx chains.Tx) (*write, error) {
	key := nonceKey(tx.Signer, tx.Nonce)
	tx.Dead = nil
	val, err := json.Marshal(nonceClaim{Tx: tx, PaymentIDs: ids})
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", key, err)
	}
	for {
		rev, err := c.kv.Create(ctx, key, val)
		if err == nil {
			return &write{key: key, rev: rev}, nil
		}
		if !isCASConflict(err) {
			return nil, fmt.Errorf("index %s: %w", key, err)
		}
		entry, err := c.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		if slices.Equal(entry.Value(), val) {
			return nil, nil
		}
		rev, err = c.kv.Update(ctx, key, val, entry.Revision())
		if err == nil {
			return &write{key: key, rev: rev, prev: entry.Value()}, nil
		}
		if !isCASConflict(err) {
			return nil, fmt.Errorf("index %s: %w", key, err)
		}
	}
}

// LookupNonce returns the transaction last recorded for signer's nonce and
// the payments it carries, or nil.
func (c *Claims) LookupNonce(ctx context.Context, signer string, nonce uint64) (*chains.Tx, []string, error) {
	key := nonceKey(signer, nonce)
	entry, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up %s: %w", key, err)
	}
	var nc nonceClaim
	if err := json.Unmarshal(entry.Value(), &nc); err != nil {
		return nil, nil, fmt.Errorf("%s does not decode: %w", key, err)
	}
	return &nc.Tx, nc.PaymentIDs, nil
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

// isCASConflict reports an Update that lost to another writer: a single
// server answers 10071 (matched by ErrKeyExists), a replicated bucket with
// an update of the key in flight answers 10164, which nats.go marks only
// as ErrKeyRevisionMismatch.
func isCASConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
