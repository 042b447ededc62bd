package exposure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/h402/settlement/pkg/h402"
	"github.com/nats-io/nats.go/jetstream"
)

// maxAttempts bounds compare-and-set retries under contention.
const maxAttempts = 64

// ErrContended is returned when a sum stayed contended for maxAttempts tries;
// it is retryable.
var ErrContended = errors.New("exposure: pending sum contended, retry later")

// ErrStaleBalance is matched (errors.Is) by the *StaleBalanceError of a
// Reserve or Check whose balance was loaded before exposure was last
// released from the account: a payment released as final has left the
// pending sum, and a balance read before its debit was on chain still counts
// the money it moved, so the pair would count that payment nowhere. The
// caller loads the balance again (not from a cache), at or after
// StaleBalanceError.ReleasedAt, and retries.
var ErrStaleBalance = errors.New("exposure: balance loaded before the last release")

// StaleBalanceError says when the balance was loaded and when the account
// last released exposure.
type StaleBalanceError struct {
	BalanceAt  time.Time
	ReleasedAt time.Time
}

func (e *StaleBalanceError) Error() string {
	return fmt.Sprintf("%v: balance loaded at %s, exposure released at %s",
		ErrStaleBalance, e.BalanceAt.UTC().Format(time.RFC3339Nano), e.ReleasedAt.UTC().Format(time.RFC3339Nano))
}

// Is matches ErrStaleBalance.
func (e *StaleBalanceError) Is(target error) bool { return target == ErrStaleBalance }

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

// record is an account's value in the bucket: its pending sum; while the
// payer is blocked, until when and how much of the sum is held for the
// payments that failed by the payer's doing; and when exposure was last
// released from it. Written as "<sum>" (never released, not blocked),
// "<sum> <blockedUntil unix ns> <held>" (the format before release times:
// still read), or "<sum> <blockedUntil unix ns, 0: none> <held> <released
// unix ns>" once a release happened.
type record struct {
	sum      *big.Int
	until    time.Time // zero: not blocked
	held     *big.Int  // part of sum kept for the block; nil when not blocked
	released time.Time // last Release that gave something back; zero: none
	rev      uint64
}

func (r record) encode() []byte {
	if r.released.IsZero() {
		if r.until.IsZero() {
			return []byte(r.sum.String())
		}
		return []byte(r.sum.String() + " " + strconv.FormatInt(r.until.UnixNano(), 10) + " " + r.held.String())
	}
	until, held := "0", "0"
	if !r.until.IsZero() {
		until, held = strconv.FormatInt(r.until.UnixNano(), 10), r.held.String()
	}
	return []byte(r.sum.String() + " " + until + " " + held + " " + strconv.FormatInt(r.released.UnixNano(), 10))
}

func decodeRecord(key string, b []byte) (record, error) {
	f := strings.Fields(string(b))
	var r record
	ok := len(f) == 1 || len(f) == 3 || len(f) == 4
	if ok {
		r.sum, ok = new(big.Int).SetString(f[0], 10)
	}
	if ok && len(f) >= 3 {
		ns, err := strconv.ParseInt(f[1], 10, 64)
		r.held, ok = new(big.Int).SetString(f[2], 10)
		ok = ok && err == nil
		r.until = time.Unix(0, ns)
		if len(f) == 4 && ns == 0 {
			r.until, r.held = time.Time{}, nil // released, never blocked
		}
	}
	if ok && len(f) == 4 {
		ns, err := strconv.ParseInt(f[3], 10, 64)
		ok = err == nil && ns > 0
		r.released = time.Unix(0, ns)
	}
	if !ok {
		return record{}, fmt.Errorf("exposure %s holds %q, not a pending sum", key, b)
	}
	return r, nil
}

// current is r as of now: an expired block is lifted and what it held is
// given back.
func (r record) current(now time.Time) record {
	if r.until.IsZero() || now.Before(r.until) {
		return r
	}
	sum := new(big.Int).Sub(r.sum, r.held)
	if sum.Sign() < 0 {
		sum.SetInt64(0)
	}
	return record{sum: sum, released: r.released, rev: r.rev}
}

// stale returns a *StaleBalanceError when a balance loaded at balanceAt may
// predate the last release from r (a zero balanceAt: load time unknown).
func (r record) stale(balanceAt time.Time) error {
	if r.released.IsZero() || balanceAt.After(r.released) {
		return nil
	}
	return &StaleBalanceError{BalanceAt: balanceAt, ReleasedAt: r.released}
}

// blocked returns payer_blocked when r blocks the payer at now.
func (r record) blocked(now time.Time) error {
	if r.until.IsZero() || !now.Before(r.until) {
		return nil
	}
	return h402.Errorf(h402.ReasonPayerBlocked,
		"a payment of this payer failed on chain by the payer's doing (funds moved away, or the authorization used or canceled before settlement); this payer is refused until %s",
		r.until.UTC().Format(time.RFC3339))
}

// Book reserves and releases exposure.
type Book struct {
	kv jetstream.KeyValue

	now func() time.Time

	mu    sync.Mutex
	cache map[string]record // last seen record and revision per account: saves a read per reserve

	// locks serialise one account's updates within this replica (striped by
	// key hash, so memory stays bounded), so that its own concurrent requests
	// queue instead of losing compare-and-set races to each other; replicas
	// still race, and compare-and-set settles that.
	locks [256]sync.Mutex
}

// New returns a book over the exposure bucket.
func New(kv jetstream.KeyValue) *Book {
	return &Book{kv: kv, now: time.Now, cache: map[string]record{}}
}

// SetClock replaces the book's clock (tests).
func (b *Book) SetClock(now func() time.Time) { b.now = now }

// Reserve adds amount to the account's pending sum if the result stays
// within balance, and records the reservation under paymentID. balanceAt is
// when balance was loaded from the chain (when its load began). Over
// balance, it returns an *h402.Error with reason insufficient_funds; while
// the payer is blocked (Block), payer_blocked; when balance was loaded
// before the account's last release (or balanceAt is zero and the account
// ever released), a *StaleBalanceError matching ErrStaleBalance, and
// reserves nothing.
func (b *Book) Reserve(ctx context.Context, a Account, paymentID string, amount, balance *big.Int, balanceAt time.Time) error {
	key := a.Key()
	if err := b.add(ctx, key, amount, &limit{balance, balanceAt}); err != nil {
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

// Reserved reports whether paymentID holds a reservation.
func (b *Book) Reserved(ctx context.Context, paymentID string) (bool, error) {
	_, err := b.kv.Get(ctx, reservationKey(paymentID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read reservation of payment %s: %w", paymentID, err)
	}
	return true, nil
}

// Check reports, without reserving, whether amount fits within balance
// (loaded at balanceAt) on top of the account's pending sum: nil,
// insufficient_funds, payer_blocked while the payer is blocked, or a
// *StaleBalanceError as Reserve. It reads the account once.
func (b *Book) Check(ctx context.Context, a Account, amount, balance *big.Int, balanceAt time.Time) error {
	r, err := b.read(ctx, a.Key())
	if err != nil {
		return err
	}
	now := b.now()
	if err := r.blocked(now); err != nil {
		return err
	}
	if err := r.stale(balanceAt); err != nil {
		return err
	}
	pending := r.current(now).sum
	if new(big.Int).Add(pending, amount).Cmp(balance) > 0 {
		return overBalance(balance, amount, pending)
	}
	return nil
}

// Block refuses the account's payer (payer_blocked) until the given time,
// after paymentID failed on chain by the payer's doing, and keeps that
// payment's reservation counted until then instead of releasing it: the
// payer cannot get a free retry by failing on purpose. When the block
// expires, the held amount is given back. A later block extends an earlier
// one and adds to what it holds. Blocking a payment twice holds its amount
// once (the reservation record is consumed first; a crash in between
// leaves the amount counted with no end, the safe side).
func (b *Book) Block(ctx context.Context, a Account, paymentID string, until time.Time) error {
	key := a.Key()
	_, held, err := b.take(ctx, "block for payment "+paymentID, paymentID, key)
	if err != nil {
		return err
	}
	if held == nil {
		held = new(big.Int) // none, or released or blocked by someone else meanwhile: hold nothing more
	}
	return b.update(ctx, key, func(r record) (record, error) {
		if r.until.IsZero() {
			r.held = new(big.Int)
		}
		r.held = new(big.Int).Add(r.held, held)
		if until.After(r.until) {
			r.until = until
		}
		return r, nil
	})
}

// BlockedUntil returns when the account's block ends, or the zero time when
// the payer is not blocked.
func (b *Book) BlockedUntil(ctx context.Context, a Account) (time.Time, error) {
	r, err := b.read(ctx, a.Key())
	if err != nil {
		return time.Time{}, err
	}
	return r.current(b.now()).until, nil
}

func overBalance(balance, amount, pending *big.Int) error {
	return h402.Errorf(h402.ReasonInsufficientFunds,
		"the payer's balance %s does not cover this payment of %s on top of %s already pending", balance, amount, pending)
}

// Release gives back the reservation of paymentID and records the time of
// the release on the account, so that a balance loaded before it is
// refused (ErrStaleBalance): the released payment may have been debited on
// chain after that balance was read. Releasing an unknown or already
// released payment does nothing.
func (b *Book) Release(ctx context.Context, paymentID string) error {
	account, amount, err := b.take(ctx, "release payment "+paymentID, paymentID, "")
	if err != nil || amount == nil {
		return err
	}
	err = b.update(ctx, account, func(r record) (record, error) {
		r.sum = new(big.Int).Sub(r.sum, amount)
		if r.sum.Sign() < 0 {
			r.sum.SetInt64(0)
		}
		if now := b.now(); now.After(r.released) {
			r.released = now
		}
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("release payment %s: %w", paymentID, err)
	}
	return nil
}

// take consumes paymentID's reservation and returns its account and amount;
// a nil amount when there is none (never made, or another releaser or
// blocker won). When account is not empty, a reservation on another account
// is an error. The reservation is deleted first: a crash before the
// caller's update leaves the sum overstated, and a second take finds
// nothing to give back twice. op prefixes errors.
func (b *Book) take(ctx context.Context, op, paymentID, account string) (string, *big.Int, error) {
	entry, err := b.kv.Get(ctx, reservationKey(paymentID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	var r reservation
	amount, ok := new(big.Int), false
	if err := json.Unmarshal(entry.Value(), &r); err == nil {
		amount, ok = amount.SetString(r.Amount, 10)
	}
	if !ok {
		return "", nil, fmt.Errorf("%s: unreadable reservation %q", op, entry.Value())
	}
	if account != "" && r.Account != account {
		return "", nil, fmt.Errorf("%s: its reservation is on %s, not %s", op, r.Account, account)
	}
	err = b.kv.Delete(ctx, reservationKey(paymentID), jetstream.LastRevision(entry.Revision()))
	if errors.Is(err, jetstream.ErrKeyNotFound) || isWrongLast(err) {
		return "", nil, nil // another releaser or blocker won
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	return r.Account, amount, nil
}

// Pending returns the account's pending sum (including what a block holds,
// until it expires).
func (b *Book) Pending(ctx context.Context, a Account) (*big.Int, error) {
	r, err := b.read(ctx, a.Key())
	if err != nil {
		return nil, err
	}
	return r.current(b.now()).sum, nil
}

func (b *Book) read(ctx context.Context, key string) (record, error) {
	entry, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{sum: new(big.Int)}, nil
	}
	if err != nil {
		return record{}, fmt.Errorf("read exposure %s: %w", key, err)
	}
	if entry.Operation() != jetstream.KeyValuePut {
		return record{sum: new(big.Int), rev: entry.Revision()}, nil
	}
	r, err := decodeRecord(key, entry.Value())
	if err != nil {
		return record{}, err
	}
	r.rev = entry.Revision()
	return r, nil
}

// limit is the balance a reservation must stay within, and when it was loaded.
type limit struct {
	balance *big.Int
	at      time.Time
}

// add changes the sum at key by delta with compare-and-set. When lim is not
// nil (a reservation), a sum that would exceed its balance is refused with
// insufficient_funds, a blocked payer with payer_blocked, and a balance
// loaded before the last release with a *StaleBalanceError. A negative
// result (a release racing a reset) is clamped at zero.
func (b *Book) add(ctx context.Context, key string, delta *big.Int, lim *limit) error {
	return b.update(ctx, key, func(r record) (record, error) {
		if lim != nil {
			if err := r.blocked(b.now()); err != nil {
				return r, err
			}
			if err := r.stale(lim.at); err != nil {
				return r, err
			}
		}
		next := new(big.Int).Add(r.sum, delta)
		if next.Sign() < 0 {
			next.SetInt64(0)
		}
		if lim != nil && delta.Sign() > 0 && next.Cmp(lim.balance) > 0 {
			return r, overBalance(lim.balance, delta, r.sum)
		}
		r.sum = next
		return r, nil
	})
}

// update applies change to the account record at key with compare-and-set,
// on the cached record first and on a fresh read when the cache is stale or
// change refuses a cached record (it may be stale: decide on a fresh read).
func (b *Book) update(ctx context.Context, key string, change func(record) (record, error)) error {
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
			r, err := b.read(ctx, key)
			if err != nil {
				return err
			}
			c = r
		}
		next, err := change(c.current(b.now()))
		if err != nil {
			if ok {
				ok = false
				continue
			}
			return err
		}
		var rev uint64
		if c.rev == 0 {
			rev, err = b.kv.Create(ctx, key, next.encode())
		} else {
			rev, err = b.kv.Update(ctx, key, next.encode(), c.rev)
		}
		if err == nil {
			next.rev = rev
			b.mu.Lock()
			b.cache[key] = next
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
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLast(err)
}

// isWrongLast reports the server's "wrong last sequence" answer to a
// compare-and-set: 10071 on a single server, 10164 on a replicated bucket
// when another update of the key is in flight.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
