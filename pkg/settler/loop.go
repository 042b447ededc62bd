package settler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
	"github.com/h402/settlement/pkg/h402"
)

// Options configure a Loop.
type Options struct {
	// Namespace and NetworkID select the network; Submitter must serve it.
	Namespace h402.Namespace
	NetworkID string
	Submitter chains.Submitter
	// Claims is passed to the Submitter (normally *Claims over h402_claims).
	Claims chains.Claims
	// Config, with defaults applied (Config.Default).
	Config Config
	// Exposure, when set, is where a failed payment's reservation is
	// released: it will never move funds, so its payer's pending amount must
	// drop (finalized payments are released by the watcher).
	Exposure *exposure.Book
	// PayerBlock, when positive (and Exposure is set), is how long a payer
	// whose payment fails by the payer's doing (PayerCaused) is blocked; that
	// payment's reservation is kept until then instead of released.
	PayerBlock time.Duration
	// Logger and Metrics may be nil.
	Logger  *slog.Logger
	Metrics *Metrics
	// Decode reads an accepted event; default events.DecodePaymentAccepted.
	// (Tests set it to stand for a build that reads fewer versions.)
	Decode func([]byte) (*events.PaymentAccepted, error)
}

// Loop settles the accepted payments of one network.
type Loop struct {
	js      jetstream.JetStream
	o       Options
	cfg     Config
	network string // "<namespace>.<networkId>", the network label and log value
	cons    jetstream.Consumer
	dead    string // dead-letter subject
	settled string // settlement record subject
	log     *slog.Logger
	batches atomic.Uint64
	states  *events.StateLog // the only writer of transitions (compare-and-set)

	reviewSubject string // the operator queue (classify.go)
}

// NewLoop makes sure the network's durable consumer exists and returns its loop.
func NewLoop(ctx context.Context, js jetstream.JetStream, o Options) (*Loop, error) {
	if o.Submitter == nil || o.Claims == nil {
		return nil, errors.New("settler loop: a Submitter and Claims are required")
	}
	if o.Submitter.Namespace() != o.Namespace {
		return nil, fmt.Errorf("settler loop: submitter serves %s, not %s", o.Submitter.Namespace(), o.Namespace)
	}
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("settler loop: %w", err)
	}
	l := &Loop{js: js, o: o, cfg: o.Config, network: string(o.Namespace) + "." + o.NetworkID, log: o.Logger}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l.log = l.log.With("network", l.network)
	var err error
	if l.dead, err = events.PaymentDeadSubject(o.Namespace, o.NetworkID); err != nil {
		return nil, err
	}
	if l.reviewSubject, err = events.PaymentReviewSubject(o.Namespace, o.NetworkID); err != nil {
		return nil, err
	}
	if l.settled, err = events.SettlementSubmittedSubject(o.Namespace, o.NetworkID); err != nil {
		return nil, err
	}
	if l.cons, err = EnsureConsumer(ctx, js, o.Namespace, o.NetworkID, o.Config); err != nil {
		return nil, err
	}
	if l.states, err = events.OpenStateLog(ctx, js); err != nil {
		return nil, fmt.Errorf("settler loop: %w", err)
	}
	return l, nil
}

// Run fetches and settles batches until ctx ends. It then stops fetching,
// lets the batch in flight finish within Config.ShutdownGrace (after which
// its remaining work is cancelled and left for redelivery), and returns nil.
func (l *Loop) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	grace := time.Duration(l.cfg.ShutdownGrace)
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancelWork) })
	defer stopGrace()

	l.log.Info("settler loop started", "consumer", ConsumerName(l.o.Namespace, l.o.NetworkID), "batch_size", l.cfg.BatchSize)
	failures := uint64(0)
	for ctx.Err() == nil {
		msgs, err := l.fetch()
		if err != nil {
			failures++
			l.o.Metrics.fetchError(l.network)
			l.log.Warn("fetch failed", "err", err, "attempt", failures)
			select {
			case <-ctx.Done():
			case <-time.After(l.cfg.retryDelay(failures)):
			}
			continue
		}
		failures = 0
		if len(msgs) > 0 {
			l.process(work, msgs)
		}
	}
	l.log.Info("settler loop stopped")
	return nil
}

// fetch takes one batch; it waits at most MaxWait.
func (l *Loop) fetch() ([]jetstream.Msg, error) {
	batch, err := l.cons.Fetch(l.cfg.BatchSize, jetstream.FetchMaxWait(time.Duration(l.cfg.MaxWait)))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
		if len(msgs) == 0 {
			return nil, err
		}
		l.log.Warn("fetch ended early", "err", err, "received", len(msgs))
	}
	return msgs, nil
}

// item is one delivered payment of a batch.
type item struct {
	msg      jetstream.Msg
	seq      uint64 // stream sequence
	delivery uint64 // 1 on first delivery
	event    *events.PaymentAccepted
	lastSeq  uint64 // Seq of the payment's latest transition (0: none)
	result   chains.Result
	done     atomic.Bool
	log      *slog.Logger
}

// process settles one batch: every message ends acked, naked, terminated,
// or (when even that fails) left for redelivery.
func (l *Loop) process(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	batchNo := l.batches.Add(1)
	log := l.log.With("batch", batchNo)
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		it := &item{msg: m, delivery: 1}
		if meta, err := m.Metadata(); err == nil {
			it.seq, it.delivery = meta.Sequence.Stream, meta.NumDelivered
		}
		it.log = log.With("attempt", it.delivery)
		items[i] = it
	}
	stopKeepAlive := l.keepAlive(items)
	defer func() {
		stopKeepAlive()
		l.o.Metrics.batch(l.network, len(items), time.Since(start))
		log.Debug("batch done", "size", len(items), "took", time.Since(start))
	}()

	// Decode; read each payment's latest state to skip what is already done.
	var pending []*item
	for _, it := range items {
		e, err := l.decode(it.msg.Data())
		if errors.Is(err, events.ErrUnknownVersion) {
			// A newer ingest wrote it: wait for a settler that reads it.
			l.unknownVersion(ctx, it, err)
			continue
		}
		if err != nil {
			l.deadUnreadable(ctx, it, err)
			continue
		}
		it.event = e
		it.log = it.log.With("payment_id", e.ID)
		pending = append(pending, it)
	}
	l.each(pending, func(it *item) {
		tr, err := l.latest(ctx, it.event.ID)
		if err != nil {
			l.retry(ctx, it, fmt.Errorf("read latest state: %w", err))
			return
		}
		if tr != nil {
			it.lastSeq = tr.Seq
			if tr.State != events.StateAccepted && tr.State != events.StateBatched {
				l.duplicate(it, tr)
			}
		}
	})

	// Settle: client-broadcast payments are already on chain; the rest go
	// to the Submitter in one call.
	var toSubmit []*item
	var batch []*events.PaymentAccepted
	inBatch := map[string]bool{}
	for _, it := range pending {
		if it.done.Load() {
			continue
		}
		switch {
		case inBatch[it.event.ID]:
			// The same payment twice in one batch (sent back while a copy
			// was pending): settle it once; the copy comes back later.
			l.retry(ctx, it, retryLoop("the payment is already in this batch"))
			continue
		case !it.event.Settle:
			it.result = chains.Result{ID: it.event.ID, Tx: &chains.Tx{Hash: it.event.TxHash}}
		default:
			toSubmit = append(toSubmit, it)
			batch = append(batch, it.event)
		}
		inBatch[it.event.ID] = true
	}
	if len(batch) > 0 {
		results, err := l.o.Submitter.Submit(ctx, batch, l.o.Claims)
		if err == nil && len(results) != len(batch) {
			err = fmt.Errorf("submitter returned %d results for %d payments", len(results), len(batch))
		}
		for i, it := range toSubmit {
			switch {
			case err != nil:
				it.result = chains.Result{ID: it.event.ID, Err: fmt.Errorf("submit batch: %w", err)}
			case results[i].ID != "" && results[i].ID != it.event.ID:
				it.result = chains.Result{ID: it.event.ID, Err: fmt.Errorf("submitter result %d is for %s", i, results[i].ID)}
			case results[i].Err == nil && (results[i].Tx == nil || results[i].Tx.Hash == ""):
				it.result = chains.Result{ID: it.event.ID, Err: errors.New("submitter returned neither a transaction nor an error")}
			default:
				it.result = results[i]
				it.result.ID = it.event.ID
			}
		}
	}

	// Classify once, here (classify.go): permanent, retryable or unknown.
	var submitted, failed []*item
	for _, it := range pending {
		if it.done.Load() {
			continue
		}
		if it.result.Err == nil {
			submitted = append(submitted, it)
			continue
		}
		switch Classify(it.result.Err) {
		case ClassPermanent:
			failed = append(failed, it)
		case ClassRetryable:
			l.retry(ctx, it, it.result.Err)
		default:
			l.unknown(ctx, it, it.result.Err)
		}
	}
	l.each(failed, func(it *item) { l.fail(ctx, it) })
	l.submitted(ctx, submitted)
}

// each runs fn on every unfinished item, at most Config.Parallel at once.
func (l *Loop) each(items []*item, fn func(*item)) {
	forEach(l.cfg.Parallel, len(items), func(i int) {
		if !items[i].done.Load() {
			fn(items[i])
		}
	})
}

// keepAlive sends InProgress for every unfinished item of the batch until stopped.
func (l *Loop) keepAlive(items []*item) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Duration(l.cfg.InProgressEvery))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, it := range items {
					if !it.done.Load() {
						_ = it.msg.InProgress()
					}
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// decode reads an accepted event and checks it belongs to this loop.
func (l *Loop) decode(b []byte) (*events.PaymentAccepted, error) {
	decode := l.o.Decode
	if decode == nil {
		decode = events.DecodePaymentAccepted
	}
	e, err := decode(b)
	if err != nil {
		return nil, err
	}
	if e.Namespace != l.o.Namespace || e.NetworkID != l.o.NetworkID {
		return nil, fmt.Errorf("%w: payment %s is for %s network %s, not this consumer's %s", events.ErrMalformed, e.ID, e.Namespace, e.NetworkID, l.network)
	}
	if err := events.CheckPaymentID(e.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	if !e.Settle && e.TxHash == "" {
		return nil, fmt.Errorf("%w: client-broadcast payment %s has no transaction hash", events.ErrMalformed, e.ID)
	}
	return e, nil
}

// latest returns the payment's latest transition, or nil.
func (l *Loop) latest(ctx context.Context, id string) (*events.Transition, error) {
	tr, _, err := l.states.Latest(ctx, l.o.Namespace, l.o.NetworkID, id)
	return tr, err
}
