package settler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// Payments that leave the pipeline (issue 9, items 5 and 9): every dead
// letter raises h402_settler_dead_letters_total; a payment that leaves
// with a readable id and nothing on chain ends with a `failed` transition,
// which releases its exposure (here at once, and in any case through the
// Releaser that follows terminal transitions); an event of a version this
// build cannot read waits for a settler that can.

// unknownVersion naks an accepted event of a version this build does not
// read, for Config.UnknownVersionDelay: during a rolling upgrade a settler
// of the new version settles it. On the last delivery MaxDeliver allows
// it is dead-lettered for an operator instead (it is not failed: a newer
// settler may still settle it from the dead letter's event).
func (l *Loop) unknownVersion(ctx context.Context, it *item, cause error) {
	l.o.Metrics.result(l.network, OutcomeUnknownVersion, "")
	if l.cfg.MaxDeliver > 0 && it.delivery >= uint64(l.cfg.MaxDeliver) {
		dl := l.deadLetter(it, h402.ReasonUnexpectedSettleError, "no settler read this event's version before its last delivery: "+cause.Error())
		dl.ID = l.unreadableID(it)
		if err := l.publish(ctx, l.dead, events.StreamPayments, events.UnreadableMsgID(it.seq), dl); err != nil {
			l.unstored(it, err)
			return
		}
		_ = it.msg.TermWithReason("unknown version")
		it.done.Store(true)
		it.log.Error("accepted event of an unknown version dead-lettered at its last delivery", "stream_seq", it.seq, "err", cause)
		return
	}
	delay := time.Duration(l.cfg.UnknownVersionDelay)
	it.log.Warn("accepted event of a version this settler cannot read; left for a settler that can", "stream_seq", it.seq, "err", cause, "delay", delay)
	if err := it.msg.NakWithDelay(delay); err != nil {
		it.log.Warn("nak failed; the event is redelivered after ackWait", "err", err)
	}
	it.done.Store(true)
}

// deadUnreadable handles a message that is not a readable accepted event
// of this network (malformed, over the size limit). When a payment id can
// be read (its subject, or the body's id) and the payment has not moved
// past accepted, the payment is failed (invalid_payload) and its exposure
// released; then the message is dead-lettered and terminated.
func (l *Loop) deadUnreadable(ctx context.Context, it *item, cause error) {
	message := "the accepted event cannot be read: " + cause.Error()
	dl := l.deadLetter(it, h402.ReasonInvalidPayload, message)
	if dl.ID = l.unreadableID(it); dl.ID != "" {
		failed, err := l.failUnclaimed(ctx, dl.ID, h402.ReasonInvalidPayload, message)
		if err != nil {
			l.unstored(it, err)
			return
		}
		dl.Failed = failed
	}
	if err := l.publish(ctx, l.dead, events.StreamPayments, events.UnreadableMsgID(it.seq), dl); err != nil {
		l.unstored(it, err)
		return
	}
	_ = it.msg.TermWithReason(string(h402.ReasonInvalidPayload))
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeDead, h402.ReasonInvalidPayload)
	it.log.Error("unreadable accepted event dead-lettered", "stream_seq", it.seq, "payment_id", dl.ID, "failed", dl.Failed, "err", cause)
}

// unreadableID is the payment id of a message whose event cannot be read:
// its subject payments.accepted.<id>, else the body's "id" field, when it
// is a valid id of this network; "" otherwise.
func (l *Loop) unreadableID(it *item) string {
	prefix := string(l.o.Namespace) + "." + l.o.NetworkID + "."
	ok := func(id string) bool { return strings.HasPrefix(id, prefix) && events.CheckPaymentID(id) == nil }
	if id, found := events.PaymentIDOfAcceptedSubject(l.o.Namespace, l.o.NetworkID, it.msg.Subject()); found {
		return id
	}
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(it.msg.Data(), &probe) == nil && ok(probe.ID) {
		return probe.ID
	}
	return ""
}

// failUnclaimed ends a payment that leaves the pipeline with a `failed`
// transition and releases its exposure, unless a transaction was recorded
// for it (it may still land: an operator or the watcher decides) or it
// already moved past accepted. It reports whether the payment is failed.
func (l *Loop) failUnclaimed(ctx context.Context, id string, reason h402.Reason, message string) (bool, error) {
	tx, err := l.o.Claims.Lookup(ctx, id)
	if err != nil {
		return false, fmt.Errorf("look up the claim of %s: %w", id, err)
	}
	if tx != nil {
		return false, nil
	}
	tr := events.Transition{ID: id, State: events.StateFailed, Reason: reason, Message: message}
	if _, err := l.states.Append(ctx, l.o.Namespace, l.o.NetworkID, tr, events.StateAccepted, events.StateBatched); err != nil {
		if errors.Is(err, events.ErrIllegalMove) {
			return false, nil
		}
		return false, err
	}
	if l.o.Exposure != nil {
		// Idempotent; the Releaser does it too if this process stops here.
		if err := l.o.Exposure.Release(ctx, id); err != nil {
			l.log.Warn("release exposure of a failed payment", "payment_id", id, "err", err)
		}
	}
	return true, nil
}

// superseded acks a payment whose transition another writer made illegal
// (it moved the payment on, e.g. to a terminal state, since this batch
// read it): there is nothing left to record.
func (l *Loop) superseded(it *item, err error) {
	if aerr := it.msg.Ack(); aerr != nil {
		it.log.Warn("ack of a superseded payment failed", "err", aerr)
	}
	it.done.Store(true)
	l.o.Metrics.result(l.network, OutcomeDuplicate, "")
	it.log.Info("transition refused: another writer moved the payment on", "err", err)
}
