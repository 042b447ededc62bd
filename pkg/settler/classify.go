package settler

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Class is what a settlement error means for its payment (see pkg/chains,
// errors.go, for how submitters mark them).
type Class int

const (
	// ClassRetryable: a later try may succeed (an endpoint down, a breaker
	// open, NATS unreachable, a lost lease, a paused token). Retried with
	// backoff, without limit unless settler.maxDeliver says otherwise.
	ClassRetryable Class = iota + 1
	// ClassPermanent: an *h402.Error, the payment can never settle: failed.
	ClassPermanent
	// ClassUnknown: nobody could say. Retried up to settler.unknownMaxTries
	// deliveries, then handed to the operator queue.
	ClassUnknown
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	case ClassUnknown:
		return "unknown"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Classify sorts a non-nil settlement error. A Retryable() or Unknown()
// mark wins over an *h402.Error it wraps; errors of NATS and of a context
// are retryable; anything else is unknown.
func Classify(err error) Class {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) && r.Retryable() {
		return ClassRetryable
	}
	var u interface{ Unknown() bool }
	if errors.As(err, &u) && u.Unknown() {
		return ClassUnknown
	}
	var herr *h402.Error
	if errors.As(err, &herr) {
		return ClassPermanent
	}
	for _, t := range transientErrors {
		if errors.Is(err, t) {
			return ClassRetryable
		}
	}
	return ClassUnknown
}

// transientErrors are errors of the event log and of shutdown.
var transientErrors = []error{
	context.Canceled, context.DeadlineExceeded,
	nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrDisconnected,
	nats.ErrConnectionReconnecting, nats.ErrConnectionDraining, nats.ErrDrainTimeout,
	jetstream.ErrNoHeartbeat, jetstream.ErrNoStreamResponse, jetstream.ErrServerShutdown,
}

// retryLoop is a retryable error of the loop itself.
type retryLoop string

func (e retryLoop) Error() string { return string(e) }
func (retryLoop) Retryable() bool { return true }

// unknown retries a payment that failed with an unclassified error, until
// its delivery reaches UnknownMaxTries; then it goes to the operator queue.
func (l *Loop) unknown(ctx context.Context, it *item, err error) {
	if it.delivery < uint64(l.cfg.UnknownMaxTries) {
		l.retry(ctx, it, err)
		return
	}
	l.review(ctx, it, err)
}

// review hands a payment to the operator queue payments.review.<ns>.<net>
// (a dead-letter record with its event and the error) and terminates its
// delivery. It is not failed: its transaction may still land, or the cause
// may pass; an operator sends it back or fails it.
func (l *Loop) review(ctx context.Context, it *item, cause error) {
	msg := fmt.Sprintf("unclassified settlement error after %d deliveries: %v", it.delivery, cause)
	dl := l.deadLetter(it, h402.ReasonOf(cause, h402.ReasonUnexpectedSettleError), msg)
	dl.ID = it.event.ID
	if err := l.publish(ctx, l.reviewSubject, events.StreamPayments, it.event.ID+":review:"+strconv.FormatUint(it.seq, 10), dl); err != nil {
		l.unstored(it, err)
		return
	}
	_ = it.msg.TermWithReason("operator review")
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeReview, dl.Reason)
	l.o.Metrics.reviewed(l.network)
	it.log.Error("payment handed to the operator queue", "subject", l.reviewSubject, "err", cause)
}
