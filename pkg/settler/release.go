package settler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/exposure"
)

// Releaser gives back a payer's exposure when a payment reaches a terminal
// state, whoever wrote the transition (a settler, the watcher, an operator)
// and whenever that writer stopped: it follows every payment's transitions
// through one durable consumer (events.ReleaseConsumer) shared by every
// process that runs it, and calls exposure.Book.Release for each `failed`
// or `finalized` transition before acking it. Release is idempotent (the
// reservation record is deleted with compare-and-set before the sum is
// decremented), so a redelivery or two releasers never release twice.
//
// A payer-caused failure (PayerCaused) with payer blocking on keeps its
// amount counted: the writer calls exposure.Book.Block before it stores
// the `failed` transition, and Block consumes the reservation into the
// held amount, so Release finds nothing left to give back.
type Releaser struct {
	cons  jetstream.Consumer
	book  *exposure.Book
	log   *slog.Logger
	batch int
	wait  time.Duration
	retry time.Duration
}

// ReleaserOptions configure a Releaser; zero values take defaults.
type ReleaserOptions struct {
	// AckWait of the consumer; default 30s.
	AckWait time.Duration
	// Batch is the most transitions fetched at once; default 256.
	Batch int
	// MaxWait is how long one fetch waits; default 1s.
	MaxWait time.Duration
	// RetryDelay is the redelivery delay after a failed release; default 1s.
	RetryDelay time.Duration
	Logger     *slog.Logger
}

// NewReleaser makes sure the release consumer exists.
func NewReleaser(ctx context.Context, js jetstream.JetStream, book *exposure.Book, o ReleaserOptions) (*Releaser, error) {
	if book == nil {
		return nil, errors.New("releaser: an exposure book is required")
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Batch == 0 {
		o.Batch = 256
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Second
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamPayments, events.ReleaseConsumer(o.AckWait))
	if err != nil {
		return nil, fmt.Errorf("releaser: ensure consumer %s: %w", events.ReleaseConsumerName, err)
	}
	return &Releaser{cons: cons, book: book, log: o.Logger.With("consumer", events.ReleaseConsumerName),
		batch: o.Batch, wait: o.MaxWait, retry: o.RetryDelay}, nil
}

// Run releases until ctx ends, then returns nil.
func (r *Releaser) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := r.cons.Fetch(r.batch, jetstream.FetchMaxWait(r.wait))
		if err != nil {
			r.log.Warn("fetch transitions", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(r.retry):
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			r.log.Warn("fetch transitions ended early", "err", err)
		}
		forEach(16, len(msgs), func(i int) { r.handle(ctx, msgs[i]) })
	}
	return nil
}

// handle releases for one transition and acks it.
func (r *Releaser) handle(ctx context.Context, m jetstream.Msg) {
	tr, err := events.DecodeTransition(m.Data())
	switch {
	case errors.Is(err, events.ErrUnknownVersion):
		// A newer writer: a releaser that reads it will come.
		_ = m.NakWithDelay(time.Minute)
		return
	case err != nil:
		r.log.Error("unreadable state transition; nothing to release", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if id, ok := events.PaymentIDOfStateSubject(m.Subject()); !ok || id != tr.ID {
		// Not written by Append (which publishes on the payment's own
		// subject): releasing the payment its body names could release one
		// that is still pending.
		r.log.Error("state transition on another payment's subject; nothing released", "subject", m.Subject(), "payment_id", tr.ID)
		_ = m.Term()
		return
	}
	if tr.State.Terminal() {
		if err := r.book.Release(ctx, tr.ID); err != nil {
			r.log.Warn("release exposure; will retry", "payment_id", tr.ID, "err", err)
			_ = m.NakWithDelay(r.retry)
			return
		}
	}
	if err := m.Ack(); err != nil {
		r.log.Warn("ack transition", "payment_id", tr.ID, "err", err)
	}
}
