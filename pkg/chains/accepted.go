package chains

import (
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// AcceptedEvent is the event that makes a verified payment durable: what
// ingest publishes and settlers consume. It carries the canonical payment
// and its settlement data taken from the decoded payload (whatever the
// client's dialect), the paid resource (the requirement's, else the
// payload's) and the fingerprint of the accepting request. An error means
// the payment cannot be carried in an event (too large or malformed); it
// is an *h402.Error to answer with.
func AcceptedEvent(p *Payment, payload *h402.PaymentPayload, resource, request string, at time.Time) (*events.PaymentAccepted, error) {
	e := &events.PaymentAccepted{
		Version:    events.PaymentAcceptedVersion,
		ID:         p.ID,
		Namespace:  p.Namespace,
		NetworkID:  p.NetworkID,
		Type:       p.Type,
		Token:      p.Token,
		Payer:      p.Payer,
		PayTo:      p.PayTo,
		Amount:     p.Amount.String(),
		Nonce:      p.Nonce,
		TxHash:     p.TxHash,
		Settle:     p.Settle,
		Resource:   resource,
		Request:    request,
		AcceptedAt: at.UTC(),
	}
	if !p.ValidAfter.IsZero() {
		e.ValidAfter = p.ValidAfter.Unix()
	}
	if !p.ValidBefore.IsZero() {
		e.ValidBefore = p.ValidBefore.Unix()
	}
	if len(resource) > events.MaxResourceLen {
		return nil, h402.Errorf(h402.ReasonPayloadTooLarge, "resource is %d bytes, more than the %d a payment may carry", len(resource), events.MaxResourceLen)
	}
	if err := e.SetPayload(payload); err != nil {
		return nil, h402.Wrap(h402.ReasonPayloadTooLarge, err, "the payment's settlement data is malformed or too large to be carried")
	}
	return e, nil
}
