package events

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// ResendMsgID is the Nats-Msg-Id of an accepted event republished by
// SendBack: <id>.resend.<seq>, where seq is the Seq of the `accepted`
// transition that sent it back. (Ingest's first publish uses the payment
// id itself.)
func ResendMsgID(id string, seq uint64) string {
	return id + ".resend." + strconv.FormatUint(seq, 10)
}

// SendBack returns a payment to settlement: the watcher calls it when the
// payment's transaction was dropped or reorged out and the payment can
// still settle. It appends an `accepted` transition through Append (from
// batched, submitted or confirmed: never from a terminal state) and then
// republishes the accepted event on its PaymentAcceptedSubject under
// ResendMsgID, so that the settlers' consumer delivers it again. Settlers
// settle a payment whose latest state is accepted, once per send-back.
//
// It is idempotent: when the latest transition is already an `accepted`
// one (an earlier call stored it and maybe crashed before the republish),
// it republishes under that transition's Seq, which the stream
// deduplicates. It returns the `accepted` transition.
func (s *StateLog) SendBack(ctx context.Context, e *PaymentAccepted, message string) (*Transition, error) {
	return s.SendBackIf(ctx, e, message, nil)
}

// SendBackIf is SendBack with AppendIf's guard on the `accepted` transition.
func (s *StateLog) SendBackIf(ctx context.Context, e *PaymentAccepted, message string, guard func(latest *Transition) error) (*Transition, error) {
	tr, err := s.AppendIf(ctx, e.Namespace, e.NetworkID,
		Transition{ID: e.ID, State: StateAccepted, Message: message}, guard,
		StateBatched, StateSubmitted, StateConfirmed)
	if err != nil {
		return nil, fmt.Errorf("send back %s: %w", e.ID, err)
	}
	subj, err := PaymentAcceptedSubject(e.Namespace, e.NetworkID, e.ID)
	if err != nil {
		return nil, err
	}
	b, err := e.Encode()
	if err != nil {
		return nil, fmt.Errorf("send back %s: %w", e.ID, err)
	}
	if _, err := s.js.Publish(ctx, subj, b, jetstream.WithMsgID(ResendMsgID(e.ID, tr.Seq)), jetstream.WithExpectStream(StreamPayments)); err != nil {
		return nil, fmt.Errorf("send back %s: republish: %w", e.ID, err)
	}
	return tr, nil
}
