package events

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/h402/settlement/pkg/h402"
)

// PaymentAcceptedVersion is the version of PaymentAccepted this code writes and reads.
const PaymentAcceptedVersion = 1

// MaxEventLen bounds a decoded event.
const MaxEventLen = 64 << 10

// PaymentAccepted is published by ingest once a payment is verified, its
// replay key is claimed and its payer's exposure is reserved. It carries
// everything a settler needs, so that settlers never call back into ingest.
type PaymentAccepted struct {
	Version   int              `json:"v"`
	ID        string           `json:"id"`
	Namespace h402.Namespace   `json:"namespace"`
	NetworkID string           `json:"networkId"`
	Type      h402.PayloadType `json:"type"`
	Token     string           `json:"token"`
	Payer     string           `json:"payer"`
	PayTo     string           `json:"payTo"`
	// Amount in smallest units, as a decimal string.
	Amount      string `json:"amount"`
	Nonce       string `json:"nonce,omitempty"`
	ValidAfter  int64  `json:"validAfter,omitempty"`  // unix seconds
	ValidBefore int64  `json:"validBefore,omitempty"` // unix seconds
	TxHash      string `json:"txHash,omitempty"`
	// Settle is false for client-broadcast payments, which only need watching.
	Settle bool `json:"settle"`
	// Payment is the X-PAYMENT value as received (base64).
	Payment string `json:"payment"`
	// Requirements is the requirement that was paid, as received.
	Requirements json.RawMessage `json:"requirements"`
	AcceptedAt   time.Time       `json:"acceptedAt"`
}

// AmountInt returns the amount as an integer.
func (e *PaymentAccepted) AmountInt() (*big.Int, error) {
	v, ok := new(big.Int).SetString(e.Amount, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("payment %s: amount %q is not a non-negative integer", e.ID, e.Amount)
	}
	return v, nil
}

// DecodePaymentAccepted decodes and checks a PaymentAccepted event.
func DecodePaymentAccepted(b []byte) (*PaymentAccepted, error) {
	var e PaymentAccepted
	if err := decode(b, &e); err != nil {
		return nil, err
	}
	if e.Version != PaymentAcceptedVersion {
		return nil, fmt.Errorf("%w: payment.accepted version %d (this build reads %d)", ErrUnknownVersion, e.Version, PaymentAcceptedVersion)
	}
	if e.ID == "" || e.Namespace == "" || e.NetworkID == "" || e.Payment == "" {
		return nil, fmt.Errorf("%w: payment.accepted lacks id, namespace, networkId or payment", ErrMalformed)
	}
	if _, err := e.AmountInt(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &e, nil
}
