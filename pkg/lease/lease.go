package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/jsensure"
)

// Bucket is the KV bucket holding the leases.
const Bucket = "h402_leases"

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 15 * time.Second

var (
	// ErrNoneFree is returned by Acquire when every key is held.
	ErrNoneFree = errors.New("lease: every key is held by another holder")
	// ErrLost is reported once a lease could not be renewed in time or was
	// taken over: its key must not sign any more. It is retryable: a new
	// lease (this process's, through a Keeper, or another replica's) carries on.
	ErrLost error = retryable("lease: lost")
	// ErrReleased is reported after Release or the end of Acquire's context.
	ErrReleased = errors.New("lease: released")
)

// retryable is a sentinel error whose Retryable() is true.
type retryable string

func (e retryable) Error() string { return string(e) }

// Retryable is true: the work can be done again later.
func (retryable) Retryable() bool { return true }

// validID is what a KV key (and so a key id) may contain.
var validID = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

// Key is a signing key of the configured key set: a public id (an EVM
// address, a Solana public key) and the private material, which stays in
// memory and is never printed, logged or stored.
type Key struct {
	ID     string
	Secret any
}

// String returns the id only.
func (k Key) String() string { return k.ID }

// GoString returns the id only, also for %#v.
func (k Key) GoString() string { return fmt.Sprintf("lease.Key{ID: %q}", k.ID) }

// Format prints the id only, whatever the verb.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, k.GoString())
		return
	}
	fmt.Fprint(f, k.ID)
}

// LogValue logs the id only.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.ID) }

// Config tunes leases.
type Config struct {
	// TTL is how long a lease lasts without renewal (default DefaultTTL).
	// It is the bucket's TTL.
	TTL time.Duration
	// Renew is the renewal period (default TTL/3).
	Renew time.Duration
	// Margin is how long before the server could expire a lease its holder
	// gives it up when renewals fail (default TTL/5): clocks and delivery
	// delays must not let two holders overlap.
	Margin time.Duration
	// Replicas of the bucket (default 1).
	Replicas int
	// Logger receives acquisitions, releases and losses (default: discarded).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Renew <= 0 {
		c.Renew = c.TTL / 3
	}
	if c.Margin <= 0 {
		c.Margin = c.TTL / 5
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Leases hands out leases on keys of one bucket.
type Leases struct {
	kv  jetstream.KeyValue
	cfg Config
}

// Open creates or updates the lease bucket (TTL, and markers on expiry so
// that watchers see a lease lapse) and returns its lease manager.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Leases, error) {
	cfg = cfg.withDefaults()
	if cfg.Renew >= cfg.TTL-cfg.Margin {
		return nil, fmt.Errorf("lease: renew period %s must be below TTL %s minus margin %s", cfg.Renew, cfg.TTL, cfg.Margin)
	}
	// The TTL is the lease length, an operator's setting: it follows the config both ways.
	kv, _, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "signing-key leases: one holder per key",
		History:        1,
		TTL:            cfg.TTL,
		LimitMarkerTTL: max(cfg.TTL, time.Second),
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
	}, jsensure.AllowShrink())
	if err != nil {
		return nil, fmt.Errorf("lease: create bucket %s: %w", Bucket, err)
	}
	return &Leases{kv: kv, cfg: cfg}, nil
}

// KeyValue is the lease bucket.
func (ls *Leases) KeyValue() jetstream.KeyValue { return ls.kv }

// record is a lease entry's value.
type record struct {
	Holder    string    `json:"holder"`
	RenewedAt time.Time `json:"renewedAt"`
}

// Acquire takes the first key of keys that nobody holds, and renews its
// lease until Release or the end of ctx. holder names this process
// incarnation (host, pid, a random part): a restarted process waits for
// its predecessor's leases to expire like anyone else.
func (ls *Leases) Acquire(ctx context.Context, keys []Key, holder string) (*Lease, error) {
	if holder == "" {
		return nil, errors.New("lease: acquire: empty holder name")
	}
	for _, k := range keys {
		if !validID.MatchString(k.ID) {
			return nil, fmt.Errorf("lease: key id %q is not a valid KV key", k.ID)
		}
		val, err := json.Marshal(record{Holder: holder, RenewedAt: time.Now().UTC()})
		if err != nil {
			return nil, fmt.Errorf("lease: encode: %w", err)
		}
		start := time.Now()
		rev, err := ls.kv.Create(ctx, k.ID, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if rev, err = ls.reclaim(ctx, k.ID, holder, val); err != nil {
				return nil, err
			}
			if rev == 0 {
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("lease: acquire %s: %w", k.ID, err)
		}
		l := &Lease{ls: ls, key: k, holder: holder, rev: rev, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
		l.deadline.Store(start.Add(ls.cfg.TTL - ls.cfg.Margin).UnixNano())
		ls.cfg.Logger.Info("lease acquired", "key", k, "holder", holder, "ttl", ls.cfg.TTL)
		go l.renew(ctx)
		return l, nil
	}
	return nil, fmt.Errorf("%w (%d keys)", ErrNoneFree, len(keys))
}

// reclaim takes back an entry that still names holder: a lease this very
// holder lost on its side (renewals failed during a NATS outage, so it
// stopped signing) while the server kept the entry. Holder names are per
// process incarnation, so nobody else can have signed under it; the
// compare-and-set on the entry's revision makes sure nobody took it in
// between. It returns 0 when the key is someone else's.
func (ls *Leases) reclaim(ctx context.Context, id, holder string, val []byte) (uint64, error) {
	e, err := ls.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil // expired meanwhile: the next attempt creates it
	}
	if err != nil {
		return 0, fmt.Errorf("lease: read %s: %w", id, err)
	}
	var r record
	if json.Unmarshal(e.Value(), &r) != nil || r.Holder != holder {
		return 0, nil
	}
	rev, err := ls.kv.Update(ctx, id, val, e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLast(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lease: reclaim %s: %w", id, err)
	}
	ls.cfg.Logger.Info("lease reclaimed: the server still held this holder's entry", "key", id, "holder", holder)
	return rev, nil
}

// Lease is the exclusive right to sign with one key.
type Lease struct {
	ls     *Leases
	key    Key
	holder string

	rev      uint64       // revision last written; only the renew goroutine and Release (after it stops) touch it
	deadline atomic.Int64 // unix nanos after which the lease counts as lost

	once sync.Once
	err  error // ErrLost or ErrReleased, set once before lost is closed
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Key is the leased key.
func (l *Lease) Key() Key { return l.key }

// Holder is the holder name the lease was acquired with.
func (l *Lease) Holder() string { return l.holder }

// Lost is closed when the lease ends: lost, released, or its context done.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Check returns nil while the lease is held, and ErrLost or ErrReleased
// once it is not. It also fails once the renewal deadline passed, even if
// the renewing goroutine has not noticed yet. Call it before every signature.
func (l *Lease) Check() error {
	select {
	case <-l.lost:
		return l.err
	default:
	}
	if time.Now().UnixNano() > l.deadline.Load() {
		l.end(fmt.Errorf("%w: no renewal of %s before its deadline", ErrLost, l.key.ID))
		return l.err
	}
	return nil
}

// end records why the lease ended and closes Lost, once.
func (l *Lease) end(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.lost)
		if errors.Is(err, ErrLost) {
			l.ls.cfg.Logger.Warn("lease lost: stop signing with this key", "key", l.key, "holder", l.holder, "err", err)
		}
	})
}

// renew keeps the lease alive until stop, ctx end or loss.
func (l *Lease) renew(ctx context.Context) {
	defer close(l.done)
	cfg := l.ls.cfg
	t := time.NewTimer(cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			l.end(fmt.Errorf("%w: %w", ErrReleased, ctx.Err()))
			l.delete(context.WithoutCancel(ctx))
			return
		case <-t.C:
		}
		deadline := time.Unix(0, l.deadline.Load())
		if time.Now().After(deadline) {
			l.end(fmt.Errorf("%w: no renewal of %s before its deadline", ErrLost, l.key.ID))
			return
		}
		val, _ := json.Marshal(record{Holder: l.holder, RenewedAt: time.Now().UTC()})
		start := time.Now()
		uctx, cancel := context.WithDeadline(ctx, deadline)
		rev, err := l.ls.kv.Update(uctx, l.key.ID, val, l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev = rev
			l.deadline.Store(start.Add(cfg.TTL - cfg.Margin).UnixNano())
			t.Reset(cfg.Renew)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			l.end(fmt.Errorf("%w: %s was taken over or expired: %w", ErrLost, l.key.ID, err))
			return
		default:
			if ctx.Err() != nil {
				continue // handled at the top of the loop
			}
			cfg.Logger.Warn("lease renewal failed; retrying", "key", l.key, "err", err)
			t.Reset(min(cfg.Renew, max(time.Until(deadline)/2, 10*time.Millisecond)))
		}
	}
}

// Release ends the lease and frees the key at once (if it is still ours),
// instead of letting it expire.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	held := l.Check() == nil
	l.end(ErrReleased)
	if !held {
		return nil
	}
	if err := l.delete(ctx); err != nil {
		return err
	}
	l.ls.cfg.Logger.Info("lease released", "key", l.key, "holder", l.holder)
	return nil
}

// delete removes the entry if nobody wrote since our last revision.
func (l *Lease) delete(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := l.ls.kv.Delete(ctx, l.key.ID, jetstream.LastRevision(l.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !isWrongLast(err) {
		return fmt.Errorf("lease: release %s: %w", l.key.ID, err)
	}
	return nil
}

// isWrongLast reports the server's "wrong last sequence" answer.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
