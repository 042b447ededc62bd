package settler

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// The records below are what a settler writes besides state transitions.
// They belong with the shared vocabulary in pkg/events and can move there
// unchanged; their JSON form is frozen by golden files in testdata/.

// SettlementVersion is the version of Settlement this code writes and reads.
const SettlementVersion = 1

// Settlement is published to settlements.submitted.<ns>.<net> once a
// transaction carrying payments is broadcast (or found on chain). The
// watcher follows its hash to finality. One transaction may be reported by
// several records (payments of one transaction redelivered in different
// batches); a reader takes the union of their payments.
type Settlement struct {
	Version   int            `json:"v"`
	Namespace h402.Namespace `json:"namespace"`
	NetworkID string         `json:"networkId"`
	// TxHash is the transaction id (EVM hash, Solana first signature).
	TxHash string `json:"txHash"`
	// Signer, Nonce and Replaces are the chains.Tx fields (EVM).
	Signer   string   `json:"signer,omitempty"`
	Nonce    uint64   `json:"nonce,omitempty"`
	Replaces []string `json:"replaces,omitempty"`
	// ClientBroadcast is true when the client sent the transaction itself.
	ClientBroadcast bool `json:"clientBroadcast,omitempty"`
	// Payments are the payment ids it carries.
	Payments    []string  `json:"payments"`
	SubmittedAt time.Time `json:"submittedAt"`
	// Replica is the settler that reported it.
	Replica string `json:"replica,omitempty"`
}

// DecodeSettlement decodes and checks a Settlement record.
func DecodeSettlement(b []byte) (*Settlement, error) {
	var s Settlement
	if err := decodeRecord(b, &s); err != nil {
		return nil, err
	}
	if s.Version != SettlementVersion {
		return nil, fmt.Errorf("%w: settlement version %d (this build reads %d)", events.ErrUnknownVersion, s.Version, SettlementVersion)
	}
	if s.TxHash == "" || s.Namespace == "" || s.NetworkID == "" || len(s.Payments) == 0 {
		return nil, fmt.Errorf("%w: settlement lacks txHash, namespace, networkId or payments", events.ErrMalformed)
	}
	return &s, nil
}

// DeadLetterVersion is the version of DeadLetter this code writes and reads.
const DeadLetterVersion = 1

// DeadLetter is published to payments.dead.<ns>.<net> before a payment's
// message is terminated, so that an operator can see and replay it.
type DeadLetter struct {
	Version int `json:"v"`
	// ID is the payment id, when the event could be decoded.
	ID     string      `json:"id,omitempty"`
	Reason h402.Reason `json:"reason"`
	// Message is a human sentence saying why.
	Message string `json:"message"`
	// Failed is true when a `failed` transition follows (the payment can
	// never settle); false when the settler gave up on a retryable error or
	// could not read the event, and an operator must look.
	Failed bool `json:"failed"`
	// Event is the accepted event as it was in the stream (when it is JSON);
	// Raw holds the bytes otherwise.
	Event json.RawMessage `json:"event,omitempty"`
	Raw   []byte          `json:"raw,omitempty"`
	// StreamSeq and Delivery locate the message and its attempt.
	StreamSeq uint64    `json:"streamSeq"`
	Delivery  uint64    `json:"delivery"`
	At        time.Time `json:"at"`
	Replica   string    `json:"replica,omitempty"`
}

// DecodeDeadLetter decodes and checks a DeadLetter record.
func DecodeDeadLetter(b []byte) (*DeadLetter, error) {
	var d DeadLetter
	if err := decodeRecord(b, &d); err != nil {
		return nil, err
	}
	if d.Version != DeadLetterVersion {
		return nil, fmt.Errorf("%w: dead letter version %d (this build reads %d)", events.ErrUnknownVersion, d.Version, DeadLetterVersion)
	}
	// The content may be empty (an empty message is dead-lettered as it
	// is); the reason may not.
	if d.Reason == "" {
		return nil, fmt.Errorf("%w: dead letter lacks a reason", events.ErrMalformed)
	}
	return &d, nil
}

func decodeRecord(b []byte, v any) error {
	if len(b) > 2*events.MaxEventLen {
		return fmt.Errorf("%w: %d bytes, more than %d", events.ErrMalformed, len(b), 2*events.MaxEventLen)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", events.ErrMalformed, err)
	}
	return nil
}
