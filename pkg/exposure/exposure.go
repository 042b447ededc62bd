package exposure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"strings"
	"sync"

	"github.com/h402/settlement/pkg/h402"
	"github.com/nats-io/nats.go/jetstream"
)

// maxAttempts bounds compare-and-set retries under contention.
const maxAttempts = 64

// ErrContended is returned when a sum stayed contended for maxAttempts tries;
// it is retryable.
var ErrContended = errors.New("exposure: pending sum contended, retry later")

// Account names one payer's pending sum on one token.
type Account struct {
	Namespace h402.Namespace
	NetworkID string
	Token     string
	Payer     string
}

// Key is the account's KV key: s.<namespace>.<networkId>.<token>.<payer>.
func (a Account) Key() string {
	return "s." + string(a.Namespace) + "." + a.NetworkID + "." + strings.ToLower(a.Token) + "." + strings.ToLower(a.Payer)
}

func reservationKey(paymentID string) string { return "r." + paymentID }

type reservation struct {
	Account string `json:"account"`
	Amount  string `json:"amount"`
}

type cached struct {
	sum *big.Int
	rev uint64
}

// Book reserves and releases exposure.
type Book struct {
	kv jetstream.KeyValue

	mu    sync.Mutex
	cache map[string]cached // last seen sum and revision per account: saves a read per reserve

	// locks serialise one account's updates within this replica (striped by
	// key hash, so memory stays bounded), so that its own concurrent requests
	// queue instead of losing compare-and-set races to each other; replicas
	// still race, and compare-and-set settles that.
	locks [256]sync.Mutex
}

// New returns a book over the exposure bucket.
func New(kv jetstream.KeyValue) *Book { return &Book{kv: kv, cache: map[string]cached{}} }

// Reserve adds amount to the account's pending sum if the result stays
// within balance, and records the reservation under paymentID. Over balance,
// it returns an *h402.Error with reason insufficient_funds.
func (b *Book) Reserve(ctx context.Context, a Account, paymentID string, amount, balance *big.Int) error {
	key := a.Key()
	if err := b.add(ctx, key, amount, balance); err != nil {
		return err
	}
	r, _ := json.Marshal(reservation{Account: key, Amount: amount.String()})
	if _, err := b.kv.Create(ctx, reservationKey(paymentID), r); err != nil {
		// Undo the sum; if the undo fails too, exposure stays overstated (safe).
		_ = b.add(ctx, key, new(big.Int).Neg(amount), nil)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("reserve for payment %s: already reserved: %w", paymentID, err)
		}
		return fmt.Errorf("reserve for payment %s: %w", paymentID, err)
	}
	return nil
}

// Check reports, without reserving, whether amount fits within balance on
// top of the account's pending sum: nil, or insufficient_funds.
func (b *Book) Check(ctx context.Context, a Account, amount, balance *big.Int) error {
	pending, err := b.Pending(ctx, a)
	if err != nil {
		return err
	}
	if new(big.Int).Add(pending, amount).Cmp(balance) > 0 {
		return overBalance(balance, amount, pending)
	}
	return nil
}

func overBalance(balance, amount, pending *big.Int) error {
	return h402.Errorf(h402.ReasonInsufficientFunds,
		"the payer's balance %s does not cover this payment of %s on top of %s already pending", balance, amount, pending)
}

// Release gives back the reservation of paymentID. Releasing an unknown or
// already released payment does nothing.
func (b *Book) Release(ctx context.Context, paymentID string) error {
	entry, err := b.kv.Get(ctx, reservationKey(paymentID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release payment %s: %w", paymentID, err)
	}
	var r reservation
	amount, ok := new(big.Int), false
	if err := json.Unmarshal(entry.Value(), &r); err == nil {
		amount, ok = amount.SetString(r.Amount, 10)
	}
	if !ok {
		return fmt.Errorf("release payment %s: unreadable reservation %q", paymentID, entry.Value())
	}
	// Delete the reservation first: a crash before the decrement leaves the
	// sum overstated, and a second Release finds nothing to give back twice.
	if err := b.kv.Delete(ctx, reservationKey(paymentID), jetstream.LastRevision(entry.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return nil // another releaser won
		}
		return fmt.Errorf("release payment %s: %w", paymentID, err)
	}
	if err := b.add(ctx, r.Account, amount.Neg(amount), nil); err != nil {
		return fmt.Errorf("release payment %s: %w", paymentID, err)
	}
	return nil
}

// Pending returns the account's pending sum.
func (b *Book) Pending(ctx context.Context, a Account) (*big.Int, error) {
	sum, _, err := b.read(ctx, a.Key())
	return sum, err
}

func (b *Book) read(ctx context.Context, key string) (*big.Int, uint64, error) {
	entry, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return new(big.Int), 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read exposure %s: %w", key, err)
	}
	if entry.Operation() != jetstream.KeyValuePut {
		return new(big.Int), entry.Revision(), nil
	}
	v, ok := new(big.Int).SetString(string(entry.Value()), 10)
	if !ok {
		return nil, 0, fmt.Errorf("exposure %s holds %q, not an integer", key, entry.Value())
	}
	return v, entry.Revision(), nil
}

// add changes the sum at key by delta with compare-and-set. When limit is not
// nil, a sum that would exceed it is refused with insufficient_funds. A
// negative result (a release racing a reset) is clamped at zero.
func (b *Book) add(ctx context.Context, key string, delta, limit *big.Int) error {
	h := fnv.New32a()
	h.Write([]byte(key))
	lock := &b.locks[h.Sum32()%uint32(len(b.locks))]
	lock.Lock()
	defer lock.Unlock()
	b.mu.Lock()
	c, ok := b.cache[key]
	b.mu.Unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if !ok {
			sum, rev, err := b.read(ctx, key)
			if err != nil {
				return err
			}
			c = cached{sum: sum, rev: rev}
		}
		next := new(big.Int).Add(c.sum, delta)
		if next.Sign() < 0 {
			next.SetInt64(0)
		}
		if limit != nil && delta.Sign() > 0 && next.Cmp(limit) > 0 {
			if ok {
				ok = false // the cache may be stale: decide on a fresh read
				continue
			}
			return overBalance(limit, delta, c.sum)
		}
		var (
			rev uint64
			err error
		)
		if c.rev == 0 {
			rev, err = b.kv.Create(ctx, key, []byte(next.String()))
		} else {
			rev, err = b.kv.Update(ctx, key, []byte(next.String()), c.rev)
		}
		if err == nil {
			b.mu.Lock()
			b.cache[key] = cached{sum: next, rev: rev}
			b.mu.Unlock()
			return nil
		}
		if !isConflict(err) {
			return fmt.Errorf("update exposure %s: %w", key, err)
		}
		ok = false
	}
	return ErrContended
}

func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
