package chains

import (
	"encoding/json"
	"time"

	"github.com/h402/settlement/pkg/events"
)

// AcceptedEvent is the event that makes a verified payment durable: what
// ingest publishes and settlers consume.
func AcceptedEvent(p *Payment, header string, requirements json.RawMessage, at time.Time) *events.PaymentAccepted {
	e := &events.PaymentAccepted{
		Version:      events.PaymentAcceptedVersion,
		ID:           p.ID,
		Namespace:    p.Namespace,
		NetworkID:    p.NetworkID,
		Type:         p.Type,
		Token:        p.Token,
		Payer:        p.Payer,
		PayTo:        p.PayTo,
		Amount:       p.Amount.String(),
		Nonce:        p.Nonce,
		TxHash:       p.TxHash,
		Settle:       p.Settle,
		Payment:      header,
		Requirements: requirements,
		AcceptedAt:   at.UTC(),
	}
	if !p.ValidAfter.IsZero() {
		e.ValidAfter = p.ValidAfter.Unix()
	}
	if !p.ValidBefore.IsZero() {
		e.ValidBefore = p.ValidBefore.Unix()
	}
	return e
}
