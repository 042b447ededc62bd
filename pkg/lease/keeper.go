package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A lease can be lost without anyone's fault: a NATS outage longer than the
// renewal deadline ends it on the holder's side. A Keeper makes that a
// pause, not the end of signing: it acquires a lease, waits for it to end,
// and acquires again (with backoff) until its context ends. Each new lease
// is handed to OnAcquire, which builds what signs with that key.

// KeepOptions tune a Keeper.
type KeepOptions struct {
	// Network labels the metrics (e.g. "evm.8453").
	Network string
	// RetryMin and RetryMax bound the backoff between failed acquisitions
	// (defaults 250ms and 10s).
	RetryMin, RetryMax time.Duration
	// OnAcquire is called with every new lease before Wait returns it;
	// an error releases the lease and counts as a failed acquisition.
	OnAcquire func(ctx context.Context, l *Lease) error
	// OnLost is called when a lease ends before the Keeper's context.
	OnLost func(l *Lease, err error)
	// Metrics, when set, receive held/lost/acquired counts.
	Metrics *Metrics
}

// Keeper holds one lease of a key set at a time and re-acquires after a loss.
type Keeper struct {
	ls     *Leases
	keys   []Key
	holder string
	o      KeepOptions

	mu      sync.Mutex
	cur     *Lease
	changed chan struct{} // closed and replaced whenever cur changes
	done    chan struct{}
	first   chan error // the first attempt's outcome, sent once
}

// Keep starts keeping a lease of one of keys for holder until ctx ends. It
// returns at once; use Wait to see the lease.
func (ls *Leases) Keep(ctx context.Context, keys []Key, holder string, o KeepOptions) *Keeper {
	if o.RetryMin <= 0 {
		o.RetryMin = 250 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	k := &Keeper{ls: ls, keys: keys, holder: holder, o: o, changed: make(chan struct{}), done: make(chan struct{}), first: make(chan error, 1)}
	go k.run(ctx)
	return k
}

// Check is nil while a lease is held (it asks the current lease, so a lease
// past its deadline fails at once), ErrLost otherwise.
func (k *Keeper) Check() error {
	k.mu.Lock()
	cur := k.cur
	k.mu.Unlock()
	if cur == nil {
		return fmt.Errorf("%w: no lease held (re-acquiring)", ErrLost)
	}
	return cur.Check()
}

// Wait blocks until a lease is held, or ctx ends.
func (k *Keeper) Wait(ctx context.Context) (*Lease, error) {
	for {
		k.mu.Lock()
		cur, ch := k.cur, k.changed
		k.mu.Unlock()
		if cur != nil && cur.Check() == nil {
			return cur, nil
		}
		select {
		case <-ch:
		case <-k.done:
			return nil, fmt.Errorf("%w: keeper stopped", ErrReleased)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// First returns the outcome of the Keeper's first acquisition: nil when it
// holds a lease, else why not (ErrNoneFree, NATS unreachable). The Keeper
// keeps trying either way; a caller starting up may prefer to stop.
func (k *Keeper) First(ctx context.Context) error {
	select {
	case err := <-k.first:
		k.first <- err // for the next caller
		return err
	case <-k.done:
		return fmt.Errorf("%w: keeper stopped", ErrReleased)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed once the Keeper stopped (its context ended) and released
// its lease.
func (k *Keeper) Done() <-chan struct{} { return k.done }

func (k *Keeper) set(l *Lease) {
	k.mu.Lock()
	k.cur = l
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
	k.o.Metrics.held(k.o.Network, l != nil)
}

func (k *Keeper) run(ctx context.Context) {
	defer close(k.done)
	log := k.ls.cfg.Logger
	delay := k.o.RetryMin
	first := true
	for ctx.Err() == nil {
		l, err := k.acquire(ctx)
		if err == nil {
			k.o.Metrics.acquired(k.o.Network)
			k.set(l)
		}
		if first {
			first = false
			k.first <- err
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			k.o.Metrics.failed(k.o.Network, errors.Is(err, ErrNoneFree))
			log.Warn("signing-key lease not acquired; retrying", "network", k.o.Network, "err", err, "delay", delay)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			delay = min(delay*2, k.o.RetryMax)
			continue
		}
		delay = k.o.RetryMin
		select {
		case <-l.Lost():
		case <-ctx.Done():
		}
		k.set(nil)
		if ctx.Err() != nil {
			releaseDetached(l)
			break
		}
		lerr := l.Check()
		k.o.Metrics.lost(k.o.Network)
		log.Warn("signing-key lease ended; re-acquiring", "network", k.o.Network, "key", l.Key(), "err", lerr)
		if k.o.OnLost != nil {
			k.o.OnLost(l, lerr)
		}
	}
}

func (k *Keeper) acquire(ctx context.Context) (*Lease, error) {
	l, err := k.ls.Acquire(ctx, k.keys, k.holder) // the lease renews until ctx ends
	if err != nil {
		return nil, err
	}
	if k.o.OnAcquire != nil {
		if err := k.o.OnAcquire(ctx, l); err != nil {
			releaseDetached(l)
			return nil, fmt.Errorf("lease %s: %w", l.Key().ID, err)
		}
	}
	return l, nil
}

// releaseDetached releases l, bounded, even when the Keeper's context has
// ended.
func releaseDetached(l *Lease) {
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.Release(rctx)
}

// Metrics are the lease series: whether a key is held per network (alert
// when 0 for long), losses and acquisitions.
type Metrics struct {
	heldG    *prometheus.GaugeVec
	lostC    *prometheus.CounterVec
	acquireC *prometheus.CounterVec
	failC    *prometheus.CounterVec
}

// NewMetrics registers the lease series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		heldG: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "h402_lease_held",
			Help: "1 while this process holds a signing-key lease for the network, 0 while it is re-acquiring (alert when 0 on every replica).",
		}, []string{"network"}),
		lostC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_lease_lost_total",
			Help: "Signing-key leases lost (renewal deadline passed, taken over, expired) before shutdown.",
		}, []string{"network"}),
		acquireC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_lease_acquired_total",
			Help: "Signing-key leases acquired (the first, and every re-acquisition after a loss).",
		}, []string{"network"}),
		failC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "h402_lease_acquire_failures_total",
			Help: "Failed lease acquisitions, by cause: none_free (every key held) or error (NATS unreachable, ...).",
		}, []string{"network", "cause"}),
	}
	reg.MustRegister(m.heldG, m.lostC, m.acquireC, m.failC)
	return m
}

// Held exposes the held gauge (for tests and dashboards).
func (m *Metrics) Held() *prometheus.GaugeVec { return m.heldG }

// Lost exposes the lost counter.
func (m *Metrics) Lost() *prometheus.CounterVec { return m.lostC }

// Acquired exposes the acquired counter.
func (m *Metrics) Acquired() *prometheus.CounterVec { return m.acquireC }

func (m *Metrics) held(network string, held bool) {
	if m == nil {
		return
	}
	v := 0.0
	if held {
		v = 1
	}
	m.heldG.WithLabelValues(network).Set(v)
}

func (m *Metrics) lost(network string) {
	if m != nil {
		m.lostC.WithLabelValues(network).Inc()
	}
}

func (m *Metrics) acquired(network string) {
	if m != nil {
		m.acquireC.WithLabelValues(network).Inc()
	}
}

func (m *Metrics) failed(network string, noneFree bool) {
	if m == nil {
		return
	}
	cause := "error"
	if noneFree {
		cause = "none_free"
	}
	m.failC.WithLabelValues(network, cause).Inc()
}
