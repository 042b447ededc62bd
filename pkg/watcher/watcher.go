package watcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
)

// Claims is what the watcher reads from the settlers' claims: every hash
// that may carry a payment (settler.Claims implements it).
type Claims interface {
	Lookup(ctx context.Context, paymentID string) (*chains.Tx, error)
}

// Options configure one network's Watcher.
type Options struct {
	Namespace h402.Namespace
	NetworkID string
	Confirmer chains.Confirmer
	// Claims gives the hashes a replacement transaction replaced (nil: only
	// the hash of the `submitted` transition is followed).
	Claims Claims
	// Exposure and PayerBlock: a payment that fails on chain through its
	// payer's doing (settler.PayerCaused: funds moved away, authorization
	// canceled after acceptance) blocks the payer for PayerBlock and keeps
	// its reservation, as the settler does, so that canceling after being
	// served is not a way to be served for free. Nil or 0: no blocking.
	Exposure   *exposure.Book
	PayerBlock time.Duration
	// PollInterval is how often followed payments are looked up on chain
	// (the network's finality.pollInterval). Default 1s.
	PollInterval time.Duration
	Config       Config
	Logger       *slog.Logger
	Metrics      *Metrics
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Watcher follows one network's submitted payments to a terminal state and
// publishes one receipt per terminal payment. Every replica runs one per
// network on the shared durable consumer events.WatcherConsumer:
//
//   - a `submitted` transition is held unacked (kept alive with InProgress)
//     while the payment is followed; when the watcher holding it dies, the
//     server delivers it to another replica after AckWait, which resumes
//     from the log (the payment's latest transition);
//   - the chain is asked about followed payments every PollInterval
//     (chains.Confirmer) and `confirmed`, `finalized` or `failed` is
//     appended, or the payment is sent back for settlement
//     (events.StateLog.SendBackIf) when its transaction left the chain and
//     it can still settle; every write is guarded so that a watcher acting
//     on an older submission never writes over a newer one;
//   - a terminal transition (written by anyone) is turned into the
//     payment's receipt (events.PublishReceipt) before it is acked.
type Watcher struct {
	o       Options
	js      jetstream.JetStream
	cons    jetstream.Consumer
	states  *events.StateLog
	stream  jetstream.Stream
	rstream jetstream.Stream
	network string
	log     *slog.Logger
	final   string
	// dedup is the RECEIPTS stream's Nats-Msg-Id window.
	dedup time.Duration

	mu        sync.Mutex
	following map[string]*entry
	legacy    legacyIndex

	sellerLocks [sellerStripes]sync.Mutex
}

// entry is one payment being followed: the message of its `submitted`
// transition (held unacked) and what the watcher learnt about it.
type entry struct {
	msg   jetstream.Msg
	tr    *events.Transition // the submitted transition
	event *events.PaymentAccepted
	tx    chains.Tx
	// confirmed is the block hash the watcher last recorded it in.
	confirmed string
	// droppedSince is when the chain first answered Dropped without proof
	// (zero: it did not, or answered otherwise since).
	droppedSince time.Time
}

// New makes sure the network's watcher consumer exists.
func New(ctx context.Context, js jetstream.JetStream, o Options) (*Watcher, error) {
	if o.Confirmer == nil {
		return nil, errors.New("watcher: a Confirmer is required")
	}
	if o.Confirmer.Namespace() != o.Namespace {
		return nil, fmt.Errorf("watcher: confirmer of namespace %s for network %s/%s", o.Confirmer.Namespace(), o.Namespace, o.NetworkID)
	}
	o.Config.Default()
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cc, err := events.WatcherConsumer(o.Namespace, o.NetworkID, time.Duration(o.Config.AckWait), o.Config.MaxFollowing)
	if err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamPayments, cc)
	if err != nil {
		return nil, fmt.Errorf("watcher: ensure consumer %s: %w", cc.Durable, err)
	}
	states, err := events.OpenStateLog(ctx, js)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, events.StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("watcher: stream %s: %w", events.StreamPayments, err)
	}
	rstream, err := js.Stream(ctx, events.StreamReceipts)
	if err != nil {
		return nil, fmt.Errorf("watcher: stream %s: %w", events.StreamReceipts, err)
	}
	rinfo, err := rstream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("watcher: stream %s: %w", events.StreamReceipts, err)
	}
	final, err := events.SettlementFinalSubject(o.Namespace, o.NetworkID)
	if err != nil {
		return nil, err
	}
	legacy, err := events.PaymentAcceptedFilters(o.Namespace, o.NetworkID)
	if err != nil {
		return nil, err
	}
	network := string(o.Namespace) + "/" + o.NetworkID
	return &Watcher{
		legacy: legacyIndex{subject: legacy[0]},
		o:      o, js: js, cons: cons, states: states, stream: stream, rstream: rstream,
		network: network, final: final, dedup: rinfo.Config.Duplicates,
		log:       o.Logger.With("network", network, "replica", o.Config.Replica),
		following: map[string]*entry{},
	}, nil
}

// Following is how many payments this watcher follows now.
func (w *Watcher) Following() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.following)
}

// Run fetches transitions, follows payments and publishes receipts until
// ctx ends. On the way out it naks the payments it follows, so that
// another replica takes them at once instead of after AckWait.
func (w *Watcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.keepAlive(ctx) }()
	go func() { defer wg.Done(); w.pollLoop(ctx) }()
	for ctx.Err() == nil {
		batch, err := w.cons.Fetch(w.o.Config.FetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			w.log.Warn("fetch transitions", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			w.log.Warn("fetch transitions ended early", "err", err)
		}
		forEach(w.o.Config.Parallel, len(msgs), func(i int) { w.handle(ctx, msgs[i]) })
	}
	wg.Wait()
	w.mu.Lock()
	for id, e := range w.following {
		_ = e.msg.Nak()
		delete(w.following, id)
	}
	w.mu.Unlock()
	w.o.Metrics.following.WithLabelValues(w.network).Set(0)
	return nil
}

// handle takes one transition off the consumer.
func (w *Watcher) handle(ctx context.Context, m jetstream.Msg) {
	tr, err := events.DecodeTransition(m.Data())
	switch {
	case errors.Is(err, events.ErrUnknownVersion):
		_ = m.NakWithDelay(time.Minute) // a newer writer: a watcher that reads it will come
		return
	case err != nil:
		w.o.Metrics.errors.WithLabelValues(w.network, "unreadable").Inc()
		w.log.Error("unreadable state transition; skipped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if id, ok := events.PaymentIDOfStateSubject(m.Subject()); !ok || id != tr.ID {
		w.o.Metrics.errors.WithLabelValues(w.network, "unreadable").Inc()
		w.log.Error("state transition on another payment's subject; skipped", "subject", m.Subject(), "payment_id", tr.ID)
		_ = m.Term()
		return
	}
	switch tr.State {
	case events.StateSubmitted:
		w.follow(m, tr)
	case events.StateFinalized, events.StateFailed:
		w.receipt(ctx, m, tr)
	default:
		// accepted, batched: the settlers' business; confirmed: written
		// while the submitted transition before it is held.
		_ = m.Ack()
	}
}

// follow starts following the payment of a submitted transition (or
// replaces an older submission of the same payment).
func (w *Watcher) follow(m jetstream.Msg, tr *events.Transition) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.following[tr.ID]; ok {
		switch {
		case old.tr.Seq > tr.Seq:
			_ = m.Ack() // an older submission: the newer one is followed
			return
		case old.tr.Seq == tr.Seq:
			old.msg = m // the same transition delivered again: hold the new delivery
			return
		}
		_ = old.msg.Ack()
	}
	w.following[tr.ID] = &entry{msg: m, tr: tr}
	w.o.Metrics.following.WithLabelValues(w.network).Set(float64(len(w.following)))
}

// done stops following e (when it is still the followed submission) and
// acks its message.
func (w *Watcher) done(e *entry) {
	w.mu.Lock()
	if cur, ok := w.following[e.tr.ID]; ok && cur == e {
		delete(w.following, e.tr.ID)
	}
	n, msg := len(w.following), e.msg
	w.mu.Unlock()
	w.o.Metrics.following.WithLabelValues(w.network).Set(float64(n))
	if err := msg.Ack(); err != nil {
		w.log.Warn("ack of a followed payment failed; it will be delivered again and found done", "payment_id", e.tr.ID, "err", err)
	}
}

// keepAlive tells the server every third of AckWait that each followed
// payment is still being worked on.
func (w *Watcher) keepAlive(ctx context.Context) {
	t := time.NewTicker(time.Duration(w.o.Config.AckWait) / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(w.following))
		for _, e := range w.following {
			msgs = append(msgs, e.msg)
		}
		w.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

func (w *Watcher) snapshot() []*entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*entry, 0, len(w.following))
	for _, e := range w.following {
		out = append(out, e)
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// forEach runs fn(0..n-1), at most parallel at once.
func forEach(parallel, n int, fn func(i int)) {
	if n == 0 {
		return
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
