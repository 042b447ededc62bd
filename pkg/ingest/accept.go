package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/chains"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/guard"
	"github.com/h402/settlement/pkg/h402"
)

// undoTimeout bounds the clean-up after a failed accept; it runs on a
// context of its own, since the request's may be gone.
const undoTimeout = 5 * time.Second

// accept reserves the payer's exposure and makes the payment durable under
// a claim this request holds. It answers "accepted" only when the accepted
// event is in the stream; when it cannot tell, it keeps the claim and the
// reservation (safe: exposure overstated) so that the identical retry
// finishes the job.
//
// own is false when this request finishes a claim an identical request
// made (its first attempt, which may have crashed, failed, or still be
// running on another replica): it reuses that attempt's reservation, and it
// never releases that claim, which may be about to be answered "accepted".
func (s *Service) accept(ctx context.Context, o *Outcome, ev *events.PaymentAccepted, st *checked, claim guard.Claim, rev uint64, own bool) *Outcome {
	pay := o.Payment
	log := s.opts.Logger.With("payment_id", pay.ID, "network", string(pay.Namespace)+":"+pay.NetworkID)
	if err := s.reserve(ctx, pay, st, own); err != nil {
		if !own {
			log.Warn("finishing a claimed payment: reserve failed; claim left to its first attempt", "err", err)
			return classify(o, fmt.Errorf("accept %s: %w", pay.ID, ErrInFlight))
		}
		s.release(ctx, log, pay.ID, claim, rev, false, "reserve")
		return classify(o, err)
	}
	dup, err := s.publish(ctx, ev)
	if err == nil && !dup {
		return s.accepted(ctx, o, log)
	}
	// Either the publish failed (it may still have been stored: a timeout
	// after the server wrote it) or the stream already held this payment
	// (a Nats-Msg-Id duplicate, from an earlier request whose claim was
	// released). Decide on what the stream holds.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	stored, lerr := s.storedAccepted(lctx, pay.Namespace, pay.NetworkID, pay.ID)
	switch {
	case lerr != nil:
		log.Warn("accepted event may or may not be stored; claim and reservation kept for the retry", "err", errors.Join(err, lerr))
		if err == nil {
			err = lerr
		}
		return classify(o, fmt.Errorf("accept %s: %w", pay.ID, err))
	case stored == nil:
		if err == nil {
			err = fmt.Errorf("publish payment %s: acknowledged as a duplicate but not in the stream", pay.ID)
		}
		if !own {
			log.Warn("finishing a claimed payment: publish failed; claim and reservation left to its first attempt", "err", err)
			return classify(o, err)
		}
		if !notStored(err) {
			// A timeout (or a lost connection) says nothing about the
			// message: it may be stored after this look-up (a reconnect
			// buffer, a clustered commit). Releasing now could let the event
			// land with no claim and no reservation behind it.
			log.Warn("publish outcome unknown; claim and reservation kept for the retry", "err", err)
			return classify(o, fmt.Errorf("accept %s: %w", pay.ID, err))
		}
		s.release(lctx, log, pay.ID, claim, rev, true, "publish")
		log.Warn("publish accepted payment failed; claim and reservation released", "err", err)
		return classify(o, err)
	case stored.Request == ev.Request && stored.Idempotency == ev.Idempotency:
		return s.accepted(ctx, o, log)
	default:
		// Another request's event holds this payment: it settles for that
		// request. Hand the claim to it, so its retry is answered, and refuse
		// this one.
		owner := guard.Claim{Fingerprint: stored.Request, Idempotency: stored.Idempotency, At: stored.AcceptedAt, Replica: claim.Replica, Permanent: claim.Permanent}
		if err := s.guard.Transfer(lctx, pay.ID, owner, rev); err != nil {
			log.Error("hand the replay key to the request that owns the stored payment", "err", err)
		}
		// The stored event's own reservation was released with its claim;
		// this request's reservation (same payment id) now stands for it.
		o.State = events.StateAccepted
		return classify(o, alreadyUsed(pay.ID, events.StateAccepted))
	}
}

// notStored reports whether a publish error proves the message was not
// stored: the stream answered with an error (full, wrong stream, expected
// sequence), or nothing listens on the subject.
func notStored(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// reserve reserves the payment's exposure (nothing for a payment already
// on chain). A request finishing another attempt's claim reuses that
// attempt's reservation; a reservation already there (left by a released
// claim) counts as made.
func (s *Service) reserve(ctx context.Context, pay *chains.Payment, st *checked, own bool) error {
	if st.Balance == nil {
		return nil
	}
	if !own {
		if reserved, err := s.book.Reserved(ctx, pay.ID); err != nil || reserved {
			return err
		}
	}
	err := s.againstBalance(ctx, st, pay, func(amount, balance *big.Int, at time.Time) error {
		return s.book.Reserve(ctx, account(pay), pay.ID, amount, balance, at)
	})
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return err
}

func (s *Service) accepted(ctx context.Context, o *Outcome, log *slog.Logger) *Outcome {
	o.State = events.StateAccepted
	log.Debug("payment accepted")
	return s.wait(ctx, o)
}

// release gives back the claim and then, only if that worked, the
// reservation: a claim left without its reservation could be accepted again
// by its identical retry with the payer's exposure understated.
func (s *Service) release(ctx context.Context, log *slog.Logger, id string, claim guard.Claim, rev uint64, reserved bool, cause string) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if err := s.guard.Release(uctx, id, claim, rev); err != nil {
		log.Error("release replay key after failed accept; kept with its reservation for the retry", "cause", cause, "err", err)
		return
	}
	if !reserved {
		return
	}
	if err := s.book.Release(uctx, id); err != nil {
		log.Error("release exposure after failed accept (overstated until released)", "cause", cause, "err", err)
	}
}

// publish stores the accepted event (Nats-Msg-Id = payment id). dup reports
// a PubAck marked Duplicate: the stream already had a message with this id.
func (s *Service) publish(ctx context.Context, ev *events.PaymentAccepted) (dup bool, err error) {
	data, err := ev.Encode()
	if err != nil {
		return false, fmt.Errorf("encode accepted event %s: %w", ev.ID, err)
	}
	subj, err := events.PaymentAcceptedSubject(ev.Namespace, ev.NetworkID, ev.ID)
	if err != nil {
		return false, err
	}
	start := s.opts.Now()
	ack, err := s.js.Publish(ctx, subj, data, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(events.StreamPayments))
	s.opts.Metrics.observePublish(err, s.opts.Now().Sub(start))
	if err != nil {
		return false, fmt.Errorf("publish payment %s: %w", ev.ID, err)
	}
	return ack.Duplicate, nil
}

// storedAccepted returns the payment's accepted event as stored in the
// stream, or nil when the stream has none.
func (s *Service) storedAccepted(ctx context.Context, ns h402.Namespace, networkID, id string) (*events.PaymentAccepted, error) {
	subj, err := events.PaymentAcceptedSubject(ns, networkID, id)
	if err != nil {
		return nil, err
	}
	stream, err := s.js.Stream(ctx, events.StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("look up accepted %s: %w", id, err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up accepted %s: %w", id, err)
	}
	return events.DecodePaymentAccepted(msg.Data)
}

// ErrInFlight is the retryable error of a /settle that finds its identical
// first attempt's claim but cannot finish it now (that attempt may still be
// running): the seller retries and gets the first answer.
var ErrInFlight = errors.New("an identical request is being accepted; retry shortly")

func alreadyUsed(id string, state events.State) error {
	if state == "" {
		return h402.Errorf(h402.ReasonPaymentAlreadyUsed, "this payment was already used by another request (payment %s)", id)
	}
	return h402.Errorf(h402.ReasonPaymentAlreadyUsed, "this payment was already used by another request (payment %s, %s)", id, state)
}
